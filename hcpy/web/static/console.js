// hcpy's web console: live updates (server-sent events), the controls, local times.
// No framework and no build step; served from the package, as the page's
// Content-Security-Policy wants (no inline script).
"use strict";

(() => {
  const body = document.body;
  // Where the console is: "/" here, Home Assistant's ingress prefix behind it
  // (the server puts every path of a page under it; these are the script's own).
  const base = (body.dataset.root || "/").replace(/\/$/, "");
  const kind = body.dataset.page;
  const appliance = kind === "appliance" ? body.dataset.appliance : undefined;
  const meta = document.querySelector('meta[name="hcpy-token"]');
  const token = meta ? meta.content : "";
  // Values whose change may change what the controls offer.
  const CONTROL_INPUTS = new Set([
    "BSH.Common.Status.OperationState",
    "BSH.Common.Setting.PowerState",
    "BSH.Common.Status.RemoteControlStartAllowed",
    "BSH.Common.Status.DoorState",
  ]);
  const replies = {}; // output id -> [text, status]: kept when the controls are redrawn

  // -- times ------------------------------------------------------------------------------

  function showTime(element, date) {
    element.setAttribute("datetime", date.toISOString());
    element.textContent = date.toLocaleString();
    element.title = date.toISOString();
  }

  // A time of day (a program's expected end): the clock, and the day when it is not today.
  function showClock(element, date) {
    element.setAttribute("datetime", date.toISOString());
    const time = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    const today = date.toDateString() === new Date().toDateString();
    element.textContent = today ? time : `${date.toLocaleDateString([], { weekday: "short" })} ${time}`;
    element.title = date.toLocaleString();
  }

  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach((element) => {
      const date = new Date(element.getAttribute("datetime"));
      if (isNaN(date.getTime()) || element.closest("table.log")) return;
      if (element.hasAttribute("data-clock")) showClock(element, date);
      else showTime(element, date);
    });
  }

  function setTime(element, unix) {
    if (!element) return;
    if (unix === null || unix === undefined) {
      element.removeAttribute("datetime");
      element.textContent = "–";
    } else {
      showTime(element, new Date(unix * 1000));
    }
  }

  // -- the face: state, program, time left, progress, door, alerts (pages.face_section) ------------

  // OperationState members a program is under way in (hcpy.appliance.names.UNDER_WAY).
  const UNDER_WAY = new Set(["DelayedStart", "Run", "Pause", "ActionRequired", "Aborting"]);
  const WHILE_UNDER_WAY = ["phase", "remaining", "end", "progress"];

  // As face.duration words it.
  function duration(seconds) {
    const total = Math.max(0, Math.round(seconds));
    const hours = Math.floor(total / 3600);
    if (hours) return `${hours}:${String(Math.floor((total % 3600) / 60)).padStart(2, "0")} h`;
    if (total >= 60) return `${Math.floor((total + 30) / 60)} min`;
    return `${total} s`;
  }

  function fillSlot(row, key, text, number) {
    if (key === "end") {
      const time = row.querySelector("time");
      if (time && number !== null && number !== undefined) showClock(time, new Date(number * 1000));
      return;
    }
    if (key === "progress") {
      const bar = row.querySelector("progress");
      if (bar && number !== null && number !== undefined) bar.value = number;
    }
    const span = row.querySelector(".face-text");
    if (span) span.textContent = text;
  }

  // An element of one class holding text (set as text: nothing in it is read as HTML).
  function textElement(tag, className, text) {
    const element = document.createElement(tag);
    element.className = className;
    element.textContent = text;
    return element;
  }

  function slotRow(root, key) {
    return root.querySelector(`[data-face-slot="${key}"]`);
  }

  // The whole face, as a connection event carries it (face.Face.to_json).
  function applyFace(element, face) {
    const root = element.querySelector(".face");
    if (!root || !face) return;
    root.dataset.underWay = String(Boolean(face.under_way));
    const slots = Object.fromEntries((face.slots || []).map((slot) => [slot.key, slot]));
    root.querySelectorAll("[data-face-slot]").forEach((row) => {
      const slot = slots[row.dataset.faceSlot];
      row.hidden = !slot;
      if (!slot) return;
      if (slot.feature) row.dataset.faceFeature = slot.feature;
      const head = row.querySelector("dt");
      if (head) head.textContent = slot.label;
      fillSlot(row, slot.key, slot.text, slot.number);
    });
    const list = root.querySelector("ul.alerts");
    if (list) {
      list.replaceChildren(
        ...(face.alerts || []).map((alert) => {
          const item = document.createElement("li");
          item.dataset.alert = alert.feature;
          item.append(textElement("span", "alert-name", alert.label), ": ", textElement("span", "alert-value", alert.value));
          if (alert.at !== null && alert.at !== undefined) {
            const time = document.createElement("time");
            showTime(time, new Date(alert.at * 1000));
            item.append(" ", time);
          }
          return item;
        }),
      );
      list.hidden = !list.children.length;
    }
  }

  // One value of an appliance's page, as its value event carries it: the face follows at once.
  function faceValue(data) {
    const yesNo = { True: "yes", False: "no" };
    document.querySelectorAll(`.face [data-face-feature="${CSS.escape(data.feature)}"]`).forEach((row) => {
      const root = row.closest(".face");
      const key = row.dataset.faceSlot;
      if (key === "program") return; // named as Home Assistant's select offers it: the card's refresh says it
      let text = yesNo[data.value] || data.value;
      let number = null;
      if (key === "operation") {
        const underWay = UNDER_WAY.has(data.value);
        root.dataset.underWay = String(underWay);
        if (!underWay) WHILE_UNDER_WAY.forEach((k) => { const r = slotRow(root, k); if (r) r.hidden = true; });
      }
      if (key === "remaining" || key === "progress") {
        number = Number(data.value);
        if (!Number.isFinite(number)) return;
        text = key === "remaining" ? duration(number) : `${number} %`;
      }
      if (WHILE_UNDER_WAY.includes(key) && root.dataset.underWay !== "true") return;
      fillSlot(row, key, text, number);
      row.hidden = false;
      if (key === "remaining") {
        // The end while running is now plus the time left (programs.expected_end); a delayed start's waits for the card.
        const operation = slotRow(root, "operation");
        const end = slotRow(root, "end");
        if (end && operation && operation.querySelector(".face-text").textContent === "Run" && number > 0) {
          fillSlot(end, "end", "", Date.now() / 1000 + number);
          end.hidden = false;
        }
      }
    });
  }

  // -- connection cards -------------------------------------------------------------------

  function card(name) {
    for (const element of document.querySelectorAll("article.connection")) {
      if (element.dataset.appliance === name) return element;
    }
    return null;
  }

  function updateConnection(data) {
    const element = card(data.name);
    if (!element) return;
    const field = (name) => element.querySelector(`[data-field="${name}"]`);
    // The card is also refreshed while values flow (counts, last message):
    // the controls only follow when the connection itself changed.
    const moved = element.dataset.state !== data.state;
    const text = (name, value) => {
      const target = field(name);
      if (target) target.textContent = value === null || value === undefined || value === "" ? "–" : String(value);
    };
    element.dataset.state = data.state;
    text("state", data.state);
    const reason = field("reason");
    if (reason) reason.textContent = data.state === "online" ? "connected" : data.reason || "–";
    setTime(field("since"), data.since);
    setTime(field("last_in"), data.last_in);
    text("transport", (data.transport || "").toUpperCase());
    text("address", data.address);
    text("firmware", data.firmware);
    text("reconnects", data.reconnects);
    text("messages_in", data.messages_in);
    text("messages_out", data.messages_out);
    const ended = Object.entries(data.disconnects || {}).sort().map(([k, v]) => `${k} ${v}`).join(", ");
    text("disconnects", ended || "none");
    if (data.face) applyFace(element, data.face);
    const controls = document.getElementById("controls");
    if (controls && moved) refreshControls();
  }

  // -- values ---------------------------------------------------------------------------------

  function valueCell(name) {
    return document.querySelector(`td[data-feature="${CSS.escape(name)}"]`);
  }

  function addRow(data) {
    const tbody = document.querySelector(`tbody[data-group="${CSS.escape(data.group)}"]`);
    if (!tbody) return null;
    const row = document.createElement("tr");
    row.dataset.row = data.feature;
    const head = document.createElement("th");
    head.scope = "row";
    head.append(textElement("span", "short", data.short), textElement("small", "full", data.feature));
    const cell = document.createElement("td");
    cell.className = "value";
    cell.dataset.feature = data.feature;
    if (data.members && data.members.length) cell.title = data.members.join(", ");
    const unit = textElement("td", "unit", data.unit || "");
    row.append(head, cell, unit);
    const after = Array.from(tbody.rows).find((r) => r.dataset.row > data.feature);
    tbody.insertBefore(row, after || null);
    const section = tbody.closest("section.group");
    if (section) section.hidden = false;
    return cell;
  }

  function updateValue(data) {
    faceValue(data);
    const cell = valueCell(data.feature) || addRow(data);
    if (!cell) return;
    cell.textContent = data.value;
    cell.classList.remove("changed");
    void cell.offsetWidth; // restart the highlight
    cell.classList.add("changed");
    if (data.group === "program" || data.group === "setting" || CONTROL_INPUTS.has(data.feature)) refreshControls();
  }

  // -- answers ----------------------------------------------------------------------------------

  function describe(answer) {
    if (!answer || typeof answer !== "object") return ["no answer", "error"];
    if (answer.status === "ok") return [`ok (${answer.command})`, "ok"];
    const code = answer.code !== undefined ? ` ${answer.code}` : "";
    const name = answer.name ? ` ${answer.name}` : "";
    return [`error${code}${name}: ${answer.error || "refused"}`, "error"];
  }

  function showReply(output, answer) {
    if (!output) return;
    const [text, status] = describe(answer);
    output.textContent = text;
    output.dataset.status = status;
    output.title = JSON.stringify(answer);
    if (output.id) replies[output.id] = [text, status, output.title];
  }

  function restoreReplies(root) {
    for (const [id, [text, status, title]] of Object.entries(replies)) {
      const output = root.querySelector(`#${CSS.escape(id)}`);
      if (output) {
        output.textContent = text;
        output.dataset.status = status;
        output.title = title;
      }
    }
  }

  // -- the controls -----------------------------------------------------------------------------

  // What the program chosen in the dropdown allows (control_panel.program_form): its options,
  // Start now styled by it, the delay only where it has a delay option.
  function showProgramOptions(root) {
    const select = root.querySelector("#program-select");
    if (!select) return;
    root.querySelectorAll("fieldset.program-options").forEach((fieldset) => {
      const chosen = fieldset.dataset.program === select.value;
      fieldset.hidden = !chosen;
      fieldset.disabled = !chosen;
    });
    const option = select.selectedOptions[0];
    const start = root.querySelector("#start-button");
    if (start) {
      const startable = Boolean(option) && option.dataset.startable === "true" && !start.dataset.refused;
      start.dataset.startable = String(startable);
    }
    const delayable = Boolean(option && option.dataset.delay);
    for (const id of ["start-delay-row", "start-delayed-button"]) {
      const element = root.querySelector(`#${id}`);
      if (element) element.hidden = !delayable;
    }
    const delay = root.querySelector("#start-delay");
    if (delay) delay.disabled = !delayable;
  }

  let refreshTimer = null;
  let refreshWanted = false;

  function refreshControls() {
    if (!appliance) return;
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(redrawControls, 300);
  }

  async function redrawControls() {
    const current = document.getElementById("controls");
    if (!current) return;
    const focused = document.activeElement;
    if (focused && current.contains(focused) && focused.matches("input, select, textarea")) {
      refreshWanted = true; // not while the user is typing or choosing
      return;
    }
    refreshWanted = false;
    try {
      const response = await fetch(`${base}/appliance/${encodeURIComponent(appliance)}/controls`, { credentials: "same-origin" });
      if (!response.ok) return;
      const template = document.createElement("template");
      template.innerHTML = await response.text();
      const fresh = template.content.getElementById("controls");
      if (!fresh) return;
      const open = Array.from(current.querySelectorAll("details[id]")).filter((d) => d.open).map((d) => d.id);
      const raw = current.querySelector("#raw-payload")?.value;
      // The program the user chose stays chosen (Start now starts it), while the appliance offers it.
      const chosen = chosenByUser;
      const select = fresh.querySelector("#program-select");
      if (chosen && select && Array.from(select.options).some((o) => o.value === chosen)) select.value = chosen;
      restoreReplies(fresh);
      for (const id of open) {
        const details = fresh.querySelector(`#${CSS.escape(id)}`);
        if (details) details.open = true;
      }
      if (raw !== undefined && fresh.querySelector("#raw-payload")) fresh.querySelector("#raw-payload").value = raw;
      current.replaceWith(fresh);
      showProgramOptions(fresh);
      body.dataset.controls = String(Date.now());
    } catch (error) {
      /* the next event tries again */
    }
  }

  document.addEventListener("focusout", () => {
    if (refreshWanted) refreshControls();
  });

  let chosenByUser = null; // the program chosen in the dropdown by hand, kept across redraws

  document.addEventListener("change", (event) => {
    if (event.target && event.target.id === "program-select") {
      chosenByUser = event.target.value;
      showProgramOptions(document);
    }
  });

  function formObject(form, submitter) {
    let data;
    try {
      data = new FormData(form, submitter);
    } catch (error) {
      data = new FormData(form);
      if (submitter && submitter.name) data.append(submitter.name, submitter.value);
    }
    const object = {};
    for (const [key, value] of data.entries()) {
      if (key !== "token") object[key] = value;
    }
    return object;
  }

  document.addEventListener("submit", async (event) => {
    const form = event.target;
    if (!form.classList || !form.classList.contains("command-form")) return;
    event.preventDefault();
    // Read before the buttons are disabled: a disabled submitter is left out of the form's data.
    const payload = JSON.stringify(formObject(form, event.submitter));
    const output = form.querySelector("output.reply");
    const buttons = form.querySelectorAll("button");
    buttons.forEach((b) => (b.disabled = true));
    if (output) {
      output.textContent = "sending…";
      output.dataset.status = "pending";
    }
    try {
      // The attribute: a field named "action" shadows the form's property.
      const response = await fetch(form.getAttribute("action"), {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-Hcpy-Token": token },
        body: payload,
      });
      let answer;
      try {
        answer = await response.json();
      } catch (error) {
        answer = { status: "error", code: response.status, error: response.statusText };
      }
      showReply(output, answer);
    } catch (error) {
      showReply(output, { status: "error", error: `the console did not answer (${error})` });
    } finally {
      buttons.forEach((b) => (b.disabled = false));
      refreshControls();
    }
  });

  // -- the event stream ---------------------------------------------------------------------------

  async function resync() {
    // After the stream was lost, what changed meanwhile: the page as it is now.
    try {
      const response = await fetch(location.pathname, { credentials: "same-origin" });
      if (!response.ok) return;
      const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
      for (const id of ["values", "appliance-list"]) {
        const now = document.getElementById(id);
        const then = fresh.getElementById(id);
        if (now && then) now.replaceWith(document.adoptNode(then));
      }
      fresh.querySelectorAll("article.connection").forEach((then) => {
        const now = card(then.dataset.appliance);
        if (now) now.replaceWith(document.adoptNode(then));
      });
      localTimes(document);
      refreshControls();
    } catch (error) {
      /* the next reconnect tries again */
    }
  }

  function listen() {
    if (kind !== "appliance" && kind !== "list") return;
    if (!window.EventSource) return;
    const url = `${base}/events` + (appliance ? `?appliance=${encodeURIComponent(appliance)}` : "");
    const source = new EventSource(url);
    let opened = false;
    source.addEventListener("ready", () => {
      body.dataset.live = "open";
      if (opened) resync();
      opened = true;
    });
    source.addEventListener("error", () => {
      body.dataset.live = "closed";
    });
    source.addEventListener("value", (event) => updateValue(JSON.parse(event.data)));
    source.addEventListener("connection", (event) => updateConnection(JSON.parse(event.data)));
    source.addEventListener("answer", (event) => {
      showReply(document.getElementById("last-answer"), JSON.parse(event.data));
      refreshControls();
    });
  }

  // The notice that the MQTT broker is not there (health.broker_notice):
  // gone as soon as hcpy has its broker, without a reload. /healthz says so.
  function watchBroker() {
    const notice = document.getElementById("broker-problem");
    if (!notice || !window.fetch) return;
    const timer = setInterval(async () => {
      try {
        const response = await fetch(`${base}/healthz`, { credentials: "same-origin", cache: "no-store" });
        const health = await response.json();
        if (health.broker && health.broker.connected) {
          notice.remove();
          clearInterval(timer);
        }
      } catch (error) {
        /* the console is restarting: asked again at the next tick */
      }
    }, 2000);
  }

  localTimes(document);
  showProgramOptions(document);
  listen();
  watchBroker();
})();
