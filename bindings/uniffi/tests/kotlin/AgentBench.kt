// Ingest throughput of the vehicle agent called from Kotlin, the same measurement as
// bindings/uniffi/examples/agent_ingest.rs: each sample becomes a schema-checked VDA 5050 state
// published with QoS 1; the clock stops when every sample was handed to the broker connection.
// Arguments: broker port, samples, batch size (1 = one `publish` call per sample).
package io.vehicleops.test

import io.vehicleops.*

fun benchMain(args: Array<String>) {
    val port = args.getOrElse(0) { "18850" }.toInt()
    val total = args.getOrElse(1) { "100000" }.toLong()
    val batch = args.getOrElse(2) { "1000" }.toLong()
    val agent = VehicleAgent.start(AgentConfig(
        brokerHost = "127.0.0.1", brokerPort = port.toUShort(), manufacturer = "bench",
        serialNumber = "KOTLIN-${ProcessHandle.current().pid()}", originLatitude = 4.711,
        originLongitude = -74.0721, interfaceName = "bench", offlineBufferCapacity = total.toUInt(),
    ))
    while (!agent.stats().connected) Thread.sleep(10)
    fun sample(i: Long) = TelemetrySample(latitude = 4.711 + (i % 1000) * 1e-6, longitude = -74.0721,
        speedKmh = 12.0, batteryPct = 80.0, headingDeg = 90.0)
    val started = System.nanoTime()
    var sent = 0L
    while (sent < total) {
        val n = minOf(batch, total - sent)
        if (n == 1L) agent.publish(sample(sent)) else agent.publishBatch((sent until sent + n).map(::sample))
        sent += n
    }
    val queuedMs = (System.nanoTime() - started) / 1e6
    while (agent.stats().published < total.toULong()) Thread.sleep(5)
    val seconds = (System.nanoTime() - started) / 1e9
    println("kotlin: $total samples in batches of $batch: ${"%.0f".format(total / seconds)} samples/s to the broker (queued in ${"%.1f".format(queuedMs)} ms)")
    agent.close()
}

object AgentBench {
    @JvmStatic
    fun main(args: Array<String>) = benchMain(args)
}
