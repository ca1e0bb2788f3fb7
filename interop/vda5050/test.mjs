// VehicleOps's VDA 5050 master control (the reference server in `--bus vda5050` mode) against
// an AGV that was not written in this project: `vda-5050-lib` (npm, coatyio/vda-5050-lib.js)
// with its `AgvController` and built-in `VirtualAgvAdapter`, speaking VDA 5050 2.0.0.
//
// Started by run.sh, which provides a broker and a server and passes them in the environment:
//   VEHICLEOPS_URL   http://127.0.0.1:PORT of the server
//   VDA_MQTT_URL     mqtt://127.0.0.1:PORT of the broker
//   VDA_INTERFACE    the first topic level the server was started with (--vda5050-interface)
//   VDA_MANUFACTURER the manufacturer the server pins its vehicles to (--vda5050-manufacturer)
//   VDA_SERIAL       the AGV's serial number, registered with --vda5050-vehicles
//   VDA_FLEET        the fleet (--vda5050-fleet, default fleet-vda)
//   VDA_ORIGIN_LAT, VDA_ORIGIN_LON  the server's georeference origin (rotation 0)
//   VDA_MAP_ID       the server's map id (--vda5050-map-id, default site)
//   VDA_BROKER_LOG   optional: a file to write every message seen on the broker to (JSON lines)
//   VDA_LIB_SHIM     0: run the library without the instantActions shim (see SHIM below)
//
// Every message on the broker is recorded; a failing step prints the messages of the AGV's
// topics, and a final step checks every order and instantActions our server sent against the
// library's own VDA 5050 2.0 validators and that the library dropped no inbound message.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { AgvClient, AgvController, VirtualAgvAdapter } = require("vda-5050-lib");
const validators20 = require("vda-5050-lib/common/vda-5050-validators-2.0.js");
const mqtt = require("mqtt");

const env = (name, fallback) => {
  const v = process.env[name] ?? fallback;
  if (v === undefined) throw new Error(`${name} is not set (run interop/vda5050/run.sh)`);
  return v;
};
const BASE = env("VEHICLEOPS_URL");
const MQTT_URL = env("VDA_MQTT_URL");
const INTERFACE = env("VDA_INTERFACE");
const MANUFACTURER = env("VDA_MANUFACTURER");
const SERIAL = env("VDA_SERIAL");
const FLEET = env("VDA_FLEET", "fleet-vda");
const MAP_ID = env("VDA_MAP_ID", "site");
const ORIGIN = { lat: Number(env("VDA_ORIGIN_LAT")), lon: Number(env("VDA_ORIGIN_LON")) };
const VDA_VERSION = "2.0.0";
const TIME_LAPSE = 8; // the virtual AGV drives 2 m/s × 8 and runs its actions 8× faster
// vda-5050-lib 1.4.0 reads a 2.0 instantActions message's action list from `instantActions`
// (the 1.1 field name; its 2.0 validator requires it), while VDA 5050 2.0 names it `actions`
// (specification text and official schemas; we send `actions`). Known upstream: the open pull
// request coatyio/vda-5050-lib.js#32 "Changed instantActions to actions in InstantActions
// interface". Unless VDA_LIB_SHIM=0, the AGV's client copies `actions` to `instantActions` on
// receipt, which is what that pull request makes the library do; nothing else is changed.
const SHIM = process.env.VDA_LIB_SHIM !== "0";
if (SHIM) {
  const dispatch = AgvClient.prototype._dispatchMessage;
  AgvClient.prototype._dispatchMessage = function (mqttTopic, mqttPayload) {
    if (mqttTopic.endsWith("/instantActions")) {
      try {
        const m = JSON.parse(mqttPayload.toString());
        if (Array.isArray(m.actions) && m.instantActions === undefined) {
          m.instantActions = m.actions;
          mqttPayload = Buffer.from(JSON.stringify(m));
        }
      } catch { /* not JSON: left to the library */ }
    }
    return dispatch.call(this, mqttTopic, mqttPayload);
  };
}

// Map metres (x east, y north; the server runs with rotation 0) to GPS, a local flat-earth
// approximation (good to millimetres over the ~100 m used here).
const R = 6371008.8;
const toGeo = (x, y) => ({
  latitude: ORIGIN.lat + (y / R) * (180 / Math.PI),
  longitude: ORIGIN.lon + (x / (R * Math.cos((ORIGIN.lat * Math.PI) / 180))) * (180 / Math.PI),
});
const distanceM = (a, b) => {
  const dy = ((b.latitude - a.latitude) * Math.PI * R) / 180;
  const dx = ((b.longitude - a.longitude) * Math.PI * R * Math.cos((a.latitude * Math.PI) / 180)) / 180;
  return Math.hypot(dx, dy);
};

// --- the broker record ---------------------------------------------------------------------

const seen = []; // { at, topic, json }
let sniffer;
const agvTopic = (topic) => `${INTERFACE}/v2/${MANUFACTURER}/${SERIAL}/${topic}`;
const messagesOn = (topic) => seen.filter((m) => m.topic === agvTopic(topic)).map((m) => m.json);
const lastState = () => messagesOn("state").at(-1);

function brokerLog(limit = 40) {
  const short = (m) => {
    const j = m.json ?? {};
    if (m.topic.endsWith("/state")) {
      const pos = j.agvPosition ? `(${j.agvPosition.x?.toFixed(2)}, ${j.agvPosition.y?.toFixed(2)})` : "-";
      return `state v${j.version} order=${j.orderId}/${j.orderUpdateId} lastNode=${j.lastNodeId}#${j.lastNodeSequenceId} ` +
        `nodes=${(j.nodeStates ?? []).map((n) => n.nodeId).join(",")} driving=${j.driving} paused=${j.paused} ` +
        `charging=${j.batteryState?.charging} pos=${pos} actions=${JSON.stringify((j.actionStates ?? []).map((a) => [a.actionType, a.actionId, a.actionStatus]))} ` +
        `errors=${JSON.stringify(j.errors ?? [])}`;
    }
    if (m.topic.endsWith("/visualization")) return null;
    return JSON.stringify(j);
  };
  return seen
    .filter((m) => m.topic.startsWith(`${INTERFACE}/`))
    .map((m) => [m, short(m)])
    .filter(([, s]) => s !== null)
    .slice(-limit)
    .map(([m, s]) => `${m.at.toISOString()} ${m.topic.split("/").slice(-1)[0]} ${s}`)
    .join("\n");
}

// --- the REST API --------------------------------------------------------------------------

let token;
async function api(method, path, body) {
  const res = await fetch(`${BASE}/api/v1${path}`, {
    method,
    headers: {
      "content-type": "application/json",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json;
  try { json = text ? JSON.parse(text) : undefined; } catch { json = text; }
  return { status: res.status, body: json };
}

/** Polls `probe` (returning a value or undefined) until it yields, or fails with the broker log. */
async function eventually(what, probe, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await probe();
    if (last !== undefined && last !== null && last !== false) return last;
    if (Date.now() > deadline) {
      assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}\n--- broker (AGV topics, last 40, visualization left out)\n${brokerLog()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function history() {
  const { status, body } = await api("GET", `/commands/${SERIAL}/history?limit=50`);
  assert.equal(status, 200, JSON.stringify(body));
  return body.data;
}

/** Dispatches a command and waits until its history entry reaches a final state, EXECUTED expected. */
async function command(name, params = {}) {
  const started = Date.now();
  const { status, body } = await api("POST", `/commands/${SERIAL}`, { command: name, params });
  assert.equal(status, 202, `${name}: ${JSON.stringify(body)}`);
  const id = body.id;
  const final = await eventually(`${name} ${id} to end`, async () =>
    (await history()).find((c) => c.id === id && !["PENDING", "DISPATCHED", "DELIVERED"].includes(c.status)));
  assert.equal(final.status, "EXECUTED",
    `${name} ended ${final.status}: ${final.failure_reason}\n--- broker\n${brokerLog()}`);
  return { ...final, ms: Date.now() - started };
}

async function latest() {
  const { status, body } = await api("GET", `/telemetry/${SERIAL}/latest`);
  return status === 200 ? body : undefined;
}

// --- the AGV -------------------------------------------------------------------------------

const START = { x: 3, y: 4 };
let agv;

// What a site configures for its vehicles: the factsheet the library publishes when asked
// (its virtual AGV leaves it empty). The actions are those the library's AGV executes.
const FACTSHEET = {
  typeSpecification: {
    seriesName: "vda-5050-lib virtual AGV", agvKinematic: "DIFF", agvClass: "CARRIER", maxLoadMass: 200,
    localizationTypes: ["NATURAL"], navigationTypes: ["AUTONOMOUS"],
  },
  physicalParameters: {
    speedMin: 0, speedMax: 2, accelerationMax: 1, decelerationMax: 1, heightMax: 1, width: 1, length: 1.5,
  },
  protocolLimits: { maxStringLens: {}, maxArrayLens: { "order.nodes": 50 }, timing: { minOrderInterval: 1, minStateInterval: 0.1 } },
  protocolFeatures: {
    optionalParameters: [],
    agvActions: [
      ["startPause", ["INSTANT"]], ["stopPause", ["INSTANT"]], ["cancelOrder", ["INSTANT"]],
      ["startCharging", ["INSTANT", "NODE"]], ["stopCharging", ["INSTANT", "NODE"]],
      ["pick", ["NODE"]], ["drop", ["NODE"]], ["factsheetRequest", ["INSTANT"]],
    ].map(([actionType, actionScopes]) => ({ actionType, actionScopes })),
  },
  agvGeometry: {},
  loadSpecification: { loadSets: [{ setName: "default", loadType: "EPAL" }] },
};

/** The library's virtual AGV, with the site's factsheet instead of its empty one. */
class ConfiguredAgvAdapter extends VirtualAgvAdapter {
  attach(context) {
    super.attach(context);
    // Same tick as the attach: no factsheetRequest can be handled before it is set.
    this.controller.updateFactsheet(FACTSHEET);
  }
}
const libErrors = [];
const originalConsoleError = console.error;

before(async () => {
  // The library reports inbound messages it drops (invalid, wrong version) on console.error.
  console.error = (...args) => {
    libErrors.push(args.map(String).join(" "));
    originalConsoleError(...args);
  };
  sniffer = mqtt.connect(MQTT_URL, { clientId: `interop-sniffer-${process.pid}` });
  await new Promise((resolve, reject) => {
    sniffer.once("connect", resolve);
    sniffer.once("error", reject);
  });
  sniffer.on("message", (topic, payload) => {
    let json;
    try { json = JSON.parse(payload.toString()); } catch { json = { unparsable: payload.toString() }; }
    seen.push({ at: new Date(), topic, json });
  });
  await new Promise((resolve, reject) => sniffer.subscribe(`${INTERFACE}/#`, { qos: 1 }, (e) => (e ? reject(e) : resolve())));

  agv = new AgvController(
    { manufacturer: MANUFACTURER, serialNumber: SERIAL },
    { interfaceName: INTERFACE, transport: { brokerUrl: MQTT_URL }, vdaVersion: VDA_VERSION },
    { agvAdapterType: ConfiguredAgvAdapter, publishStateInterval: 1000, publishVisualizationInterval: 250 },
    {
      initialPosition: { mapId: MAP_ID, x: START.x, y: START.y, theta: 0, lastNodeId: "start" },
      timeLapse: TIME_LAPSE,
      tickRate: 10,
    },
  );
  await agv.start();

  const login = await api("POST", "/auth/login", { email: "admin@vehicleops.io", password: "Admin123!" });
  assert.equal(login.status, 200, JSON.stringify(login.body));
  token = login.body.access_token;
});

after(async () => {
  console.error = originalConsoleError;
  if (process.env.VDA_BROKER_LOG) {
    writeFileSync(process.env.VDA_BROKER_LOG,
      seen.map((m) => JSON.stringify({ at: m.at, topic: m.topic, message: m.json })).join("\n") + "\n");
  }
  await agv?.stop().catch(() => {});
  await new Promise((r) => (sniffer ? sniffer.end(false, {}, r) : r()));
});

// --- the steps (node --test runs them in order) -------------------------------------------

test("the vehicle is registered in the fleet", async () => {
  const { status, body } = await api("GET", `/fleet/${FLEET}/vehicles`);
  assert.equal(status, 200, JSON.stringify(body));
  assert.ok(JSON.stringify(body).includes(SERIAL), JSON.stringify(body));
});

test("(a) its 2.0 state is ingested: latest telemetry over REST", async () => {
  const reading = await eventually("a stored reading", latest);
  assert.equal(reading.fleet_id, FLEET);
  assert.equal(reading.status, "IDLE");
  assert.equal(reading.battery_pct, 100);
  assert.equal(reading.speed_kmh, 0);
  const here = toGeo(START.x, START.y);
  assert.ok(distanceM(reading, here) < 0.5,
    `reading at ${reading.latitude},${reading.longitude}, expected ~${here.latitude},${here.longitude}`);
  const state = lastState();
  assert.equal(state.version, VDA_VERSION, "the library announces 2.0.0");
});

test("(d) its factsheet is requested and read: capabilities over REST", async () => {
  const caps = await eventually("the vehicle's capabilities", async () => {
    const { status, body } = await api("GET", `/vehicles/${SERIAL}/capabilities`);
    return status === 200 ? body : undefined;
  });
  assert.equal(caps.source, "VDA 5050 2.0.0 factsheet");
  assert.equal(caps.series_name, "vda-5050-lib virtual AGV");
  assert.equal(caps.max_speed_mps, 2);
  assert.equal(caps.max_load_kg, 200);
  assert.equal(caps.max_order_nodes, 50);
  assert.deepEqual(caps.load_types, ["EPAL"]);
  assert.deepEqual(caps.actions.map((a) => a.action_type),
    FACTSHEET.protocolFeatures.agvActions.map((a) => a.actionType));
  const request = messagesOn("instantActions").find((m) => m.actions[0]?.actionType === "factsheetRequest");
  assert.ok(request, "VehicleOps sent a factsheetRequest");
  assert.equal(request.version, VDA_VERSION);
});

test("(b) STOP → startPause, EXECUTED; the vehicle reports paused", async () => {
  const c = await command("STOP");
  assert.ok(c.delivered_at, "DELIVERED recorded");
  const state = await eventually("a paused state", () => lastState()?.paused === true || undefined);
  assert.ok(state);
  await eventually("a STOPPED reading", async () => (await latest())?.status === "STOPPED" || undefined);
  const ia = messagesOn("instantActions").at(-1);
  assert.equal(ia.version, VDA_VERSION);
  assert.equal(ia.actions[0].actionType, "startPause");
  assert.equal(ia.actions[0].actionId, c.id);
});

test("(b) RESUME → stopPause, EXECUTED; the vehicle reports not paused", async () => {
  const c = await command("RESUME");
  await eventually("an unpaused state", () => lastState()?.paused === false || undefined);
  await eventually("an IDLE reading", async () => (await latest())?.status === "IDLE" || undefined);
  const ia = messagesOn("instantActions").at(-1);
  assert.equal(ia.actions[0].actionType, "stopPause");
  assert.equal(ia.actions[0].actionId, c.id);
});

const REROUTE_TO = [{ x: 20, y: 4 }, { x: 20, y: 16 }];

test("(b) REROUTE with two waypoints → an order, driven, EXECUTED", async () => {
  const waypoints = REROUTE_TO.map((p, i) => ({ ...toGeo(p.x, p.y), order: i + 1 }));
  const c = await command("REROUTE", { waypoints });
  const order = messagesOn("order").at(-1);
  assert.equal(order.version, VDA_VERSION);
  assert.equal(order.nodes.length, 3, "start node + two waypoints");
  const end = lastState().agvPosition;
  const target = REROUTE_TO.at(-1);
  assert.ok(Math.hypot(end.x - target.x, end.y - target.y) < 0.6,
    `AGV at (${end.x}, ${end.y}), expected (${target.x}, ${target.y})`);
  const reading = await eventually("a reading at the last waypoint",
    async () => { const r = await latest(); return r && distanceM(r, toGeo(target.x, target.y)) < 1 ? r : undefined; });
  assert.equal(reading.status, "IDLE");
  assert.ok(c.executed_at);
});

test("(c) a mission of three waypoints → an order released as it goes, COMPLETED", async () => {
  // 30 m apart (beyond the server's 25 m arrival radius), ending 50 m from the charger.
  const points = [{ x: 50, y: 16 }, { x: 50, y: 46 }, { x: 20, y: 46 }];
  const waypoints = points.map((p, i) => ({ ...toGeo(p.x, p.y), order: i + 1 }));
  const before = messagesOn("order").length;
  const { status, body } = await api("POST", "/missions", {
    fleet_id: FLEET, vehicle_id: SERIAL, mission_type: "DELIVERY", waypoints,
  });
  assert.equal(status, 201, JSON.stringify(body));
  const id = body.id;
  const mission = await eventually(`mission ${id} to end`, async () => {
    const r = await api("GET", `/missions/${id}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return ["COMPLETED", "FAILED", "CANCELLED"].includes(r.body.status) ? r.body : undefined;
  }, 30000);
  assert.equal(mission.status, "COMPLETED", `${JSON.stringify(mission)}\n--- broker\n${brokerLog()}`);
  assert.equal(mission.completed_waypoints, 3);
  const orders = messagesOn("order").slice(before);
  assert.ok(orders.length >= 2, `an order and at least one update, got ${orders.length}`);
  assert.ok(orders.every((o) => o.orderId === id && o.version === VDA_VERSION));
  assert.equal(orders[0].orderUpdateId, 0);
  assert.ok(orders[0].nodes.some((n) => !n.released), "the first order holds a horizon back");
  assert.ok(orders.at(-1).nodes.every((n) => n.released), "the last update releases the rest");
  // Each update continues from the previous base's last node (VDA 5050 order stitching).
  for (let i = 1; i < orders.length; i++) {
    assert.equal(orders[i].orderUpdateId, orders[i - 1].orderUpdateId + 1);
    const baseEnd = orders[i - 1].nodes.filter((n) => n.released).at(-1);
    assert.equal(orders[i].nodes[0].nodeId, baseEnd.nodeId);
    assert.equal(orders[i].nodes[0].sequenceId, baseEnd.sequenceId);
  }
  // The AGV itself finished the order at the last waypoint.
  const state = await eventually("the AGV's state with the order done",
    () => { const s = lastState(); return s.orderId === id && s.nodeStates.length === 0 && !s.driving ? s : undefined; });
  const end = points.at(-1);
  assert.ok(Math.hypot(state.agvPosition.x - end.x, state.agvPosition.y - end.y) < 0.6);
});

test("(b) RETURN_TO_BASE → an order to the charger with startCharging, EXECUTED; CHARGING", async () => {
  const c = await command("RETURN_TO_BASE");
  const order = messagesOn("order").at(-1);
  assert.equal(order.version, VDA_VERSION);
  const last = order.nodes.at(-1);
  assert.ok(last.actions.some((a) => a.actionType === "startCharging" && a.actionId === c.id), JSON.stringify(last));
  const state = lastState();
  assert.ok(Math.hypot(state.agvPosition.x, state.agvPosition.y) < 0.6, "at the charger (0, 0)");
  await eventually("a CHARGING reading", async () => (await latest())?.status === "CHARGING" || undefined);
});

test("every order and instantActions we sent is valid VDA 5050 2.0 for the library; nothing was dropped", async () => {
  const sent = [
    ...messagesOn("order").map((o) => ["order", o, validators20.validateOrder]),
    // The library's 2.0 instantActions validator wants `instantActions` for `actions` (see SHIM).
    ...messagesOn("instantActions").map((o) => ["instantActions", o,
      (m) => validators20.validateInstantActions({ ...m, instantActions: m.actions })]),
  ];
  assert.ok(sent.length >= 6, `sent ${sent.length}`);
  for (const [topic, msg, validate] of sent) {
    assert.equal(msg.version, VDA_VERSION, `${topic} ${JSON.stringify(msg)}`);
    assert.equal(msg.manufacturer, MANUFACTURER);
    assert.equal(msg.serialNumber, SERIAL);
    assert.ok(validate(msg), `${topic} fails the library's 2.0 schema\n${JSON.stringify(msg)}`);
  }
  assert.deepEqual(libErrors, [], "the library dropped inbound messages");
  // The AGV controller reports what it refuses (invalid messages, unstitchable orders) as
  // errors in its state: none may have appeared.
  const refusals = [...new Set(messagesOn("state").flatMap((st) => st.errors ?? [])
    .map((e) => `${e.errorType}: ${e.errorDescription}`))];
  assert.deepEqual(refusals, [], "the AGV reported errors");
  // …and our server rejected none of the AGV's messages (schema, identity, version).
  const metrics = await (await fetch(`${BASE}/metrics`)).text();
  assert.match(metrics, /^vehicleops_source_rejections_total 0$/m, "the server rejected VDA 5050 messages (see its log)");
  console.log(`# broker: ${messagesOn("state").length} state, ${messagesOn("visualization").length} visualization, ` +
    `${messagesOn("connection").length} connection from the AGV; ${messagesOn("order").length} order, ` +
    `${messagesOn("instantActions").length} instantActions from VehicleOps`);
});
