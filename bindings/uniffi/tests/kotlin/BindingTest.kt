// Kotlin tests of the UniFFI bindings against real reference servers started by
// bindings/uniffi/scripts/test.sh:
//   VEHICLEOPS_DEMO_URL  a demo-mode server (in-process simulator)
//   VEHICLEOPS_VDA_URL   a VDA 5050-mode server on the broker at 127.0.0.1:VEHICLEOPS_MQTT_PORT
//   VEHICLEOPS_VDA_INTERFACE  the VDA 5050 interface name that server uses
//   VEHICLEOPS_PROXY_PORT     a free port, for the offline-buffer test's broker link
//   VEHICLEOPS_MQTT_AUTH_PORT / VEHICLEOPS_MQTT_TLS_PORT  the same broker's listeners with a
//     password file (VEHICLEOPS_MQTT_USER / VEHICLEOPS_MQTT_PASSWORD), plain and TLS (a
//     certificate for 127.0.0.1 from the CA in the PEM file VEHICLEOPS_MQTT_CA)
// Prints one line per test and "N passed, N failed"; exits non-zero on any failure.
package io.vehicleops.test

import io.vehicleops.*
import java.net.InetAddress
import java.net.ServerSocket
import java.net.Socket
import java.time.Duration
import java.time.Instant
import java.util.concurrent.ConcurrentLinkedQueue
import java.util.concurrent.atomic.AtomicBoolean
import java.util.concurrent.atomic.AtomicInteger
import kotlin.concurrent.thread
import kotlin.system.exitProcess
import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking

var passed = 0
var failed = 0

suspend fun test(name: String, body: suspend () -> Unit) {
    try {
        body()
        passed++
        println("ok - $name")
    } catch (e: Throwable) {
        failed++
        println("FAILED - $name: $e")
        e.printStackTrace()
    }
}

fun check(condition: Boolean, message: () -> String) {
    if (!condition) throw AssertionError(message())
}

/** Polls until [probe] returns non-null; the limit guards against hanging, it is not a timing assertion. */
suspend fun <T> eventually(what: String, probe: suspend () -> T?): T {
    val deadline = System.nanoTime() + Duration.ofSeconds(90).toNanos()
    while (true) {
        probe()?.let { return it }
        if (System.nanoTime() > deadline) throw AssertionError("gave up waiting for $what")
        delay(100)
    }
}

fun env(name: String): String = System.getenv(name) ?: error("$name is not set")

/** Records what a subscription delivers, and whether anything came after CLOSED. */
class RecordingListener : FleetListener {
    val updates = ConcurrentLinkedQueue<VehicleUpdate>()
    val alerts = ConcurrentLinkedQueue<LiveAlert>()
    val commands = ConcurrentLinkedQueue<CommandRecord>()
    val states = ConcurrentLinkedQueue<ConnectionState>()
    val afterClose = AtomicInteger()
    private val closed = AtomicBoolean()

    override fun onVehicleUpdate(update: VehicleUpdate) {
        if (closed.get()) afterClose.incrementAndGet()
        updates.add(update)
    }

    override fun onAlert(alert: LiveAlert) {
        if (closed.get()) afterClose.incrementAndGet()
        alerts.add(alert)
    }

    override fun onCommandUpdate(command: CommandRecord) {
        if (closed.get()) afterClose.incrementAndGet()
        commands.add(command)
    }

    override fun onConnectionState(state: ConnectionState) {
        if (closed.get()) afterClose.incrementAndGet()
        if (state is ConnectionState.Closed) closed.set(true)
        states.add(state)
    }
}

/** Carries out commands the way a vehicle app would: records them, refuses RESUME. */
class RecordingHandler : CommandHandler {
    val received = ConcurrentLinkedQueue<AgentCommand>()

    override fun onCommand(command: AgentCommand) {
        received.add(command)
        if (command.kind == CommandKind.RESUME) {
            throw CommandRejected.Rejected("brakes still engaged")
        }
    }
}

/** A TCP relay to the broker, started late to play a broker that comes back. */
class Relay(private val port: Int, private val brokerPort: Int) {
    private val server = ServerSocket(port, 50, InetAddress.getLoopbackAddress())

    init {
        thread(isDaemon = true) {
            while (!server.isClosed) {
                val client = try { server.accept() } catch (e: Exception) { break }
                val broker = Socket(InetAddress.getLoopbackAddress(), brokerPort)
                pump(client, broker)
                pump(broker, client)
            }
        }
    }

    private fun pump(from: Socket, to: Socket) = thread(isDaemon = true) {
        try {
            from.getInputStream().copyTo(to.getOutputStream())
        } catch (_: Exception) {
        } finally {
            from.close()
            to.close()
        }
    }

    fun close() = server.close()
}

suspend fun admin(url: String): OperatorClient {
    val client = OperatorClient.connect(url)
    client.login("admin@vehicleops.io", "Admin123!")
    return client
}

suspend fun commandReaches(client: OperatorClient, vehicle: String, id: String, status: CommandStatus): CommandRecord =
    eventually("command $id $status") {
        client.commandHistory(vehicle, 20u).firstOrNull { it.id == id && it.status == status }
    }

suspend fun operatorTests(url: String) {
    val client = OperatorClient.connect(url)

    test("login returns the operator; a wrong password throws Unauthorized with its detail") {
        val me = client.login("admin@vehicleops.io", "Admin123!")
        check(me.role == "ADMIN" && me.email == "admin@vehicleops.io") { "$me" }
        try {
            OperatorClient.connect(url).login("admin@vehicleops.io", "wrong password")
            throw AssertionError("a wrong password logged in")
        } catch (e: VehicleOpsException.Unauthorized) {
            check(e.detail.isNotBlank()) { "no detail in $e" }
        }
    }

    test("fleets, fleet summary and vehicle pages") {
        check(client.fleets().any { it.id == "fleet-001" }) { "fleet-001 missing" }
        val summary = eventually("vehicles in fleet-001") {
            client.fleetSummary("fleet-001").takeIf { it.totalVehicles >= 3u }
        }
        check(summary.fleetName.isNotBlank()) { "$summary" }
        val page = client.vehicles("fleet-001", null, 1u, 2u)
        check(page.vehicles.size == 2 && page.total >= 3u && page.limit == 2u) { "$page" }
        val reporting = eventually("a moving vehicle") {
            client.vehicles("fleet-001", VehicleStatus.MOVING, null, null).vehicles.takeIf { it.isNotEmpty() }
        }
        check(reporting.all { it.status == VehicleStatus.MOVING && it.latitude != null }) { "$reporting" }
        val latest = client.latest(reporting[0].vehicleId)
        check(latest.vehicleId == reporting[0].vehicleId) { "$latest" }
        try {
            client.latest("no-such-vehicle")
            throw AssertionError("an unknown vehicle has a reading")
        } catch (e: VehicleOpsException.NotFound) {
        }
    }

    test("a live subscription delivers updates; cancel stops them with CLOSED last") {
        val listener = RecordingListener()
        val subscription = client.subscribe("fleet-001", listener)
        eventually("connected and three updates") {
            (listener.states.any { it is ConnectionState.Connected } && listener.updates.size >= 3).takeIf { it }
        }
        check(listener.updates.all { it.fleetId == "fleet-001" }) { "foreign fleet in ${listener.updates}" }
        subscription.cancel()
        eventually("CLOSED") { listener.states.lastOrNull()?.takeIf { it is ConnectionState.Closed } }
        val count = listener.updates.size
        delay(1_000) // the simulator ticks every 200 ms: updates would have come by now
        check(listener.updates.size == count && listener.afterClose.get() == 0) {
            "${listener.updates.size - count} updates after cancel"
        }
        subscription.close()
    }

    test("STOP is dispatched and reaches EXECUTED, in the history and live") {
        val listener = RecordingListener()
        val subscription = client.subscribe("fleet-001", listener)
        eventually("connected") { listener.states.firstOrNull { it is ConnectionState.Connected } }
        val vehicle = client.vehicles("fleet-001", VehicleStatus.MOVING, null, null).vehicles.firstOrNull()
            ?: client.vehicles("fleet-001", null, null, null).vehicles.first()
        val receipt = client.sendCommand(vehicle.vehicleId, CommandKind.STOP, emptyList(), "kotlin test", null)
        check(receipt.status == CommandStatus.DISPATCHED && receipt.command == CommandKind.STOP) { "$receipt" }
        val done = commandReaches(client, vehicle.vehicleId, receipt.id, CommandStatus.EXECUTED)
        check(done.executedAt != null) { "$done" }
        eventually("the live EXECUTED step") {
            listener.commands.firstOrNull { it.id == receipt.id && it.status == CommandStatus.EXECUTED }
        }
        subscription.close()
        client.sendCommand(vehicle.vehicleId, CommandKind.RESUME, emptyList(), null, null)
        // A retry with the same idempotency key returns the original command, sent once.
        val key = "kotlin-retry-${System.nanoTime()}"
        val first = client.sendCommand(vehicle.vehicleId, CommandKind.RESUME, emptyList(), null, key)
        val retry = client.sendCommand(vehicle.vehicleId, CommandKind.RESUME, emptyList(), null, key)
        check(retry.id == first.id) { "retry ${retry.id} != ${first.id}" }
        check(client.commandHistory(vehicle.vehicleId, 50u).count { it.id == first.id } == 1)
        try {
            client.sendCommand(vehicle.vehicleId, CommandKind.REROUTE, emptyList(), null, null)
            throw AssertionError("REROUTE without waypoints was accepted")
        } catch (e: VehicleOpsException.Validation) {
            check(e.field.contains("waypoints")) { "field ${e.field}" }
        }
    }

    test("a mission for a demo vehicle: created, got, listed; a second is a Conflict; cancelled") {
        val vehicle = eventually("a reporting vehicle without a mission") {
            client.vehicles("fleet-001", null, null, null).vehicles
                .firstOrNull { it.activeMissionId == null && it.latitude != null }
        }
        val at = client.latest(vehicle.vehicleId)
        // About 2 km away: the vehicle is still on its way when the mission is cancelled.
        val route = listOf(
            MissionWaypoint(at.latitude + 0.02, at.longitude, 1u),
            MissionWaypoint(at.latitude + 0.02, at.longitude + 0.02, 2u),
        )
        val request = MissionCreate(
            fleetId = "fleet-001", vehicleId = vehicle.vehicleId, missionType = MissionType.DELIVERY,
            waypoints = route, priority = MissionPriority.HIGH,
        )
        val created = client.createMission(request)
        check(created.vehicleId == vehicle.vehicleId && created.status == MissionStatus.ASSIGNED &&
            created.totalWaypoints == 2u) { "$created" }

        val mission = client.mission(created.id)
        check(mission.fleetId == "fleet-001" && mission.missionType == MissionType.DELIVERY &&
            mission.priority == MissionPriority.HIGH) { "$mission" }
        check(mission.status == MissionStatus.ASSIGNED || mission.status == MissionStatus.IN_PROGRESS) { "$mission" }
        check(mission.totalWaypoints == 2u && mission.completionPct in 0.0..100.0 && mission.completedAt == null) { "$mission" }
        check(mission.waypoints.map { it.order } == listOf(1u, 2u) &&
            Math.abs(mission.waypoints[1].longitude - (at.longitude + 0.02)) < 1e-9) { "${mission.waypoints}" }
        val listed = client.missions(MissionFilter(vehicleId = vehicle.vehicleId))
        check(listed.firstOrNull()?.id == created.id) { "newest of ${vehicle.vehicleId}: $listed" }
        check(client.missions(MissionFilter(fleetId = "fleet-001", limit = 500u)).any { it.id == created.id }) { "not in fleet-001" }

        try {
            client.createMission(request)
            throw AssertionError("a second active mission was accepted")
        } catch (e: VehicleOpsException.Conflict) {
            check(e.detail.isNotBlank()) { "no detail in $e" }
        }

        val cancelled = client.cancelMission(created.id)
        check(cancelled.id == created.id && cancelled.status == MissionStatus.CANCELLED) { "$cancelled" }
        check(client.mission(created.id).status == MissionStatus.CANCELLED) { "not CANCELLED when read back" }
        val cancelledList = client.missions(MissionFilter(vehicleId = vehicle.vehicleId, status = MissionStatus.CANCELLED))
        check(cancelledList.any { it.id == created.id }) { "not listed as CANCELLED: $cancelledList" }
        try {
            client.cancelMission(created.id)
            throw AssertionError("an ended mission was cancelled again")
        } catch (e: VehicleOpsException.Conflict) {
        }
        try {
            client.mission("no-such-mission")
            throw AssertionError("an unknown mission was found")
        } catch (e: VehicleOpsException.NotFound) {
        }
        try {
            client.createMission(request.copy(waypoints = emptyList()))
            throw AssertionError("a mission without waypoints was accepted")
        } catch (e: VehicleOpsException.Validation) {
            check(e.field.contains("waypoints")) { "field ${e.field}" }
        }
    }

    test("metric series, vehicle metrics and fleet performance from the simulator's readings") {
        val vehicle = client.vehicles("fleet-001", null, null, null).vehicles.first { it.latitude != null }.vehicleId
        val speed = eventually("a speed series point for $vehicle") {
            client.metricSeries(vehicle, Metric.SPEED_KMH, 1u, null, null).takeIf { it.isNotEmpty() }
        }
        check(speed.all { it.minValue <= it.avgValue + 1e-9 && it.avgValue <= it.maxValue + 1e-9 }) { "$speed" }
        val now = Instant.now()
        val battery = eventually("a battery series point in the last 10 minutes") {
            client.metricSeries(vehicle, Metric.BATTERY_PCT, 5u, now.minusSeconds(600), now.plusSeconds(60))
                .takeIf { it.isNotEmpty() }
        }
        check(battery.all { it.minValue >= 0.0 && it.maxValue <= 100.0 }) { "$battery" }
        check(battery.zipWithNext().all { (a, b) -> a.bucket < b.bucket }) { "not oldest first: $battery" }
        val metrics = client.vehicleMetrics(vehicle, null, null)
        check(metrics.vehicleId == vehicle && metrics.totalReadings > 0uL && metrics.avgSpeedKmh != null) { "$metrics" }
        val performance = eventually("$vehicle in fleet-001's performance") {
            client.fleetPerformance("fleet-001", now.minusSeconds(3600), null)
                .takeIf { report -> report.vehicles.any { it.vehicleId == vehicle } }
        }
        check(performance.fleetId == "fleet-001" && performance.from < performance.to) { "$performance" }
        check(performance.vehicles.zipWithNext().all { (a, b) -> a.distanceKm >= b.distanceKm }) { "not ranked: $performance" }
        try {
            client.metricSeries(vehicle, Metric.SPEED_KMH, 0u, null, null)
            throw AssertionError("a 0-minute bucket was accepted")
        } catch (e: VehicleOpsException.Validation) {
            check(e.field == "bucket_minutes") { "field ${e.field}" }
        }
        try {
            client.metricSeries("no-such-vehicle", Metric.LOAD_PCT, 5u, null, null)
            throw AssertionError("an unknown vehicle has a series")
        } catch (e: VehicleOpsException.NotFound) {
        }
    }

    client.close()
}

fun agentConfig(serial: String, port: Int, capacity: UInt = 1000u) = AgentConfig(
    brokerHost = "127.0.0.1",
    brokerPort = port.toUShort(),
    manufacturer = "kotlin",
    serialNumber = serial,
    originLatitude = 4.711,
    originLongitude = -74.0721,
    interfaceName = env("VEHICLEOPS_VDA_INTERFACE"),
    clientId = "kotlin-test-$serial-${System.nanoTime()}",
    offlineBufferCapacity = capacity,
)

suspend fun agentTests(url: String, brokerPort: Int, proxyPort: Int) {
    val operator = admin(url)
    val handler = RecordingHandler()
    val agent = VehicleAgent.start(agentConfig("KT-1", brokerPort))
    agent.setCommandHandler(handler)

    test("published telemetry reaches the operator over REST") {
        agent.publish(TelemetrySample(latitude = 4.7115, longitude = -74.0718, speedKmh = 7.2, batteryPct = 64.5, loaded = true))
        val latest = eventually("KT-1's reading") {
            try { operator.latest("KT-1").takeIf { it.batteryPct == 64.5 } } catch (e: VehicleOpsException.NotFound) { null }
        }
        check(latest.fleetId == "fleet-vda" && latest.status == VehicleStatus.MOVING) { "$latest" }
        check(Math.abs(latest.latitude - 4.7115) < 1e-6 && Math.abs(latest.longitude + 74.0718) < 1e-6) { "$latest" }
        check(Math.abs(latest.speedKmh - 7.2) < 1e-6 && latest.loadPct == 100.0) { "$latest" }
        check(operator.vehicles("fleet-vda", null, null, null).vehicles.any { it.vehicleId == "KT-1" }) { "not listed" }
        check(agent.stats().published >= 1uL) { "${agent.stats()}" }
    }

    test("an operator STOP runs the Kotlin handler and is EXECUTED; a rejected RESUME is FAILED") {
        val stop = operator.sendCommand("KT-1", CommandKind.STOP, emptyList(), "kotlin agent test", null)
        commandReaches(operator, "KT-1", stop.id, CommandStatus.EXECUTED)
        check(handler.received.any { it.id == stop.id && it.kind == CommandKind.STOP }) { "${handler.received}" }
        val stopped = eventually("KT-1 STOPPED") { operator.latest("KT-1").takeIf { it.status == VehicleStatus.STOPPED } }
        check(stopped.vehicleId == "KT-1") { "$stopped" }
        val resume = operator.sendCommand("KT-1", CommandKind.RESUME, emptyList(), null, null)
        val failedResume = commandReaches(operator, "KT-1", resume.id, CommandStatus.FAILED)
        check(failedResume.failureReason?.contains("brakes still engaged") == true) { "$failedResume" }
        check(agent.stats().commandsFailed == 1uL) { "${agent.stats()}" }
    }

    test("a low battery raises an alert, delivered live and listed over REST, then acknowledged") {
        val listener = RecordingListener()
        val subscription = operator.subscribe("fleet-vda", listener)
        eventually("connected") { listener.states.firstOrNull { it is ConnectionState.Connected } }
        val live = eventually("a live LOW_BATTERY alert for KT-1") {
            // One more low reading per poll: the rule may want several before it fires.
            agent.publish(TelemetrySample(latitude = 4.7115, longitude = -74.0718, speedKmh = 0.0, batteryPct = 9.0))
            listener.alerts.firstOrNull { it.vehicleId == "KT-1" && it.alertType == "LOW_BATTERY" }
        }
        check(live.fleetId == "fleet-vda" && live.value < live.threshold) { "$live" }
        subscription.cancel()
        val listed = operator.alerts(AlertFilter(vehicleId = "KT-1")).first { it.id == live.id }
        check(!listed.acknowledged && listed.severity == live.severity) { "$listed" }
        val ack = operator.acknowledgeAlert(live.id, "checked from Kotlin")
        check(ack.acknowledged && ack.notes == "checked from Kotlin" && ack.acknowledgedAt != null) { "$ack" }
        val acknowledged = operator.alerts(AlertFilter(vehicleId = "KT-1", acknowledged = true))
        check(acknowledged.any { it.id == live.id && it.acknowledgedBy != null }) { "not listed as acknowledged" }
        subscription.close()
    }

    test("samples published while the broker is unreachable are buffered, oldest dropped, and flushed on reconnect") {
        // KT-2 reaches the broker only through a relay that is not listening yet.
        val offline = VehicleAgent.start(agentConfig("KT-2", proxyPort, capacity = 3u))
        val t0 = Instant.now().minusSeconds(60)
        val samples = (0 until 5).map { i ->
            TelemetrySample(latitude = 4.711, longitude = -74.0721, speedKmh = 0.0,
                batteryPct = 50.0 + i, timestamp = t0.plusSeconds(i.toLong()))
        }
        try {
            offline.publishBatch(samples + samples[0].copy(batteryPct = 120.0))
            throw AssertionError("a battery of 120 % was accepted")
        } catch (e: VehicleOpsException.Validation) {
            check(e.field == "battery_pct" && offline.stats().buffered == 0uL) { "$e ${offline.stats()}" }
        }
        offline.publishBatch(samples)
        val before = offline.stats()
        check(!before.connected && before.buffered == 3uL && before.dropped == 2uL && before.published == 0uL) { "$before" }
        val relay = Relay(proxyPort, brokerPort)
        try {
            eventually("the buffer flushed") { offline.stats().takeIf { it.connected && it.buffered == 0uL } }
            val batteries = eventually("three readings of KT-2") {
                try {
                    // The samples' own window: after reconnecting the agent also reports its
                    // state now (e.g. answering the server's factsheetRequest), a later reading.
                    operator.telemetryHistory("KT-2", t0.minusSeconds(5), t0.plusSeconds(10), null)
                        .map { it.batteryPct }.takeIf { it.size >= 3 }
                } catch (e: VehicleOpsException.NotFound) { null }
            }
            check(batteries == listOf(52.0, 53.0, 54.0)) { "history $batteries" }
            offline.shutdown()
        } finally {
            relay.close()
            offline.close()
        }
    }

    agent.shutdown()
    try {
        agent.publish(TelemetrySample(latitude = 0.0, longitude = 0.0, speedKmh = 0.0, batteryPct = 1.0))
        throw AssertionError("publish after shutdown")
    } catch (e: VehicleOpsException.Closed) {
    }
    agent.close()
    operator.close()
}

/** Waits for [vehicle]'s reading with [battery] over REST, as the VDA 5050 server got it. */
suspend fun readingArrives(operator: OperatorClient, vehicle: String, battery: Double): Telemetry =
    eventually("$vehicle's reading") {
        try { operator.latest(vehicle).takeIf { it.batteryPct == battery } } catch (e: VehicleOpsException.NotFound) { null }
    }

suspend fun securityTests(url: String) {
    val operator = admin(url)
    val authPort = env("VEHICLEOPS_MQTT_AUTH_PORT").toInt()
    val tlsPort = env("VEHICLEOPS_MQTT_TLS_PORT").toInt()
    val user = env("VEHICLEOPS_MQTT_USER")
    val password = env("VEHICLEOPS_MQTT_PASSWORD")
    val ca = env("VEHICLEOPS_MQTT_CA")
    fun sample(battery: Double) = TelemetrySample(latitude = 4.7112, longitude = -74.0719, speedKmh = 3.6, batteryPct = battery)

    test("an agent with a username and password is let in (toString hides it); a wrong password is not, and waitConnected says why") {
        val config = agentConfig("KT-3", authPort).copy(username = user, password = password)
        check(config.toString().contains("username: Some(\"$user\")") && !config.toString().contains(password)) { "$config" }
        val agent = VehicleAgent.start(config)
        val wrong = VehicleAgent.start(agentConfig("KT-3", authPort).copy(username = user, password = "wrong"))
        try {
            agent.waitConnected(10_000u)
            agent.publish(sample(71.0))
            readingArrives(operator, "KT-3", 71.0)
            try {
                wrong.waitConnected(1_000u)
                throw AssertionError("connected with a wrong password")
            } catch (e: VehicleOpsException.Transport) {
                check(e.detail.contains("accepts connections") && e.detail.contains("username or password")) { e.detail }
            }
            check(!wrong.stats().connected) { "${wrong.stats()}" }
            agent.shutdown()
        } finally {
            agent.close()
            wrong.close()
        }
    }

    test("an agent with caFile speaks TLS to the broker and its telemetry reaches the server; never plain TCP") {
        val agent = VehicleAgent.start(agentConfig("KT-4", tlsPort).copy(username = user, password = password, caFile = ca))
        // With a CA file, the broker's plain listener is no way in.
        val plain = VehicleAgent.start(agentConfig("KT-4", env("VEHICLEOPS_MQTT_PORT").toInt()).copy(caFile = ca))
        try {
            agent.waitConnected(10_000u)
            agent.publish(sample(72.0))
            val latest = readingArrives(operator, "KT-4", 72.0)
            check(latest.fleetId == "fleet-vda") { "$latest" }
            try {
                plain.waitConnected(1_000u)
                throw AssertionError("a TLS agent connected to a plain TCP listener")
            } catch (e: VehicleOpsException.Transport) {
                check(e.detail.contains("TLS")) { e.detail }
            }
            agent.shutdown()
        } finally {
            agent.close()
            plain.close()
        }
    }

    test("a bad caFile is a Config error naming the file; a password without a username is refused") {
        val missing = "/nonexistent/vehicleops-ca.pem"
        try {
            VehicleAgent.start(agentConfig("KT-4", tlsPort).copy(caFile = missing)).close()
            throw AssertionError("a missing CA file was accepted")
        } catch (e: VehicleOpsException.Config) {
            check(e.detail.contains(missing)) { e.detail }
        }
        try {
            VehicleAgent.start(agentConfig("KT-4", authPort).copy(password = password)).close()
            throw AssertionError("a password without a username was accepted")
        } catch (e: VehicleOpsException.Validation) {
            check(e.field == "password") { e.field }
        }
    }

    test("the operator client refuses plain http:// to another host unless allowed explicitly") {
        try {
            OperatorClient.connect("http://10.1.2.3:8000").close()
            throw AssertionError("http://10.1.2.3 was accepted")
        } catch (e: VehicleOpsException.Config) {
            check(e.detail.contains("https://") && e.detail.contains("allow")) { e.detail }
        }
        OperatorClient.connectWithOptions("http://10.1.2.3:8000", ConnectOptions(allowInsecureHttp = true)).close()
        OperatorClient.connect("https://10.1.2.3:8443").close()
        OperatorClient.connect("http://localhost:8000").close()
        OperatorClient.connect("http://[::1]:8000").close()
    }

    operator.close()
}

fun main() {
    runBlocking {
        operatorTests(env("VEHICLEOPS_DEMO_URL"))
        agentTests(env("VEHICLEOPS_VDA_URL"), env("VEHICLEOPS_MQTT_PORT").toInt(), env("VEHICLEOPS_PROXY_PORT").toInt())
        securityTests(env("VEHICLEOPS_VDA_URL"))
    }
    println("$passed passed, $failed failed")
    exitProcess(if (failed == 0) 0 else 1)
}
