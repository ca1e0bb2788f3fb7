// Serves PGlite (PostgreSQL 17 compiled to WebAssembly) with the TimescaleDB extension over the
// PostgreSQL wire protocol on a local port, so the Rust store can be tested against TimescaleDB.
//
// Usage: node timescale-server.mjs [port] [host] [data-dir]
// Prints "ready postgres://..." on stdout once clients may connect. PGlite serves one connection
// at a time and runs no background workers, so TimescaleDB jobs (policies) never fire here.
import { PGlite } from '@electric-sql/pglite';
import { timescaledb } from '@electric-sql/pglite/timescaledb';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

const port = Number.parseInt(process.argv[2] ?? '54339', 10);
const host = process.argv[3] ?? '127.0.0.1';
// In memory unless a folder is given: a test run wants a fresh database.
const dataDir = process.argv[4] ?? 'memory://';

const db = await PGlite.create(dataDir, { extensions: { timescaledb } });
const server = new PGLiteSocketServer({ db, port, host, connectionQueueTimeout: 120000 });
await server.start();
console.log(`ready postgresql://postgres:postgres@${host}:${port}/postgres`);

const shutdown = async () => {
  await server.stop();
  await db.close();
  process.exit(0);
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
