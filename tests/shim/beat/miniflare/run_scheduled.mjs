// Runs a Worker written by `cfq-shim beat --export-wrangler` under Miniflare, fires its Cron Triggers,
// and prints what reached the queues as JSON: [{queue, body, kind}, ...] (kind: typeof the delivered body).
//
//   node run_scheduled.mjs DIR '[{"cron": "*/15 * * * *", "scheduledTime": 1733320800000}, ...]' EXPECTED
//
// DIR holds wrangler.json and src/index.js. A second Worker consumes every queue the first one
// produces to and stores each message in KV, so the messages are read back as Cloudflare delivers them.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Miniflare } from "miniflare";

const [directory, firesJson, expectedText] = process.argv.slice(2);
const config = JSON.parse(readFileSync(join(directory, "wrangler.json"), "utf8"));
const producers = Object.fromEntries(config.queues.producers.map((p) => [p.binding, p.queue]));
const queueNames = config.queues.producers.map((p) => p.queue);

const consumer = `
export default {
  async queue(batch, env) {
    for (const message of batch.messages) {
      const body = typeof message.body === "string" ? message.body : JSON.stringify(message.body);
      // A "text" message arrives as a string; "json" would arrive parsed.
      await env.RECEIVED.put(batch.queue + ":" + message.id, JSON.stringify({ queue: batch.queue, body, kind: typeof message.body }));
      message.ack();
    }
  },
};`;

const mf = new Miniflare({
  workers: [
    {
      name: config.name,
      modules: true,
      scriptPath: join(directory, config.main),
      modulesRoot: directory,
      compatibilityDate: config.compatibility_date,
      queueProducers: producers,
    },
    {
      name: "received",
      modules: true,
      script: consumer,
      kvNamespaces: { RECEIVED: "received" },
      queueConsumers: Object.fromEntries(queueNames.map((q) => [q, { maxBatchSize: 100, maxBatchTimeout: 1 }])),
    },
  ],
});

try {
  const worker = await mf.getWorker(config.name);
  for (const fire of JSON.parse(firesJson)) {
    await worker.scheduled({ cron: fire.cron, scheduledTime: new Date(fire.scheduledTime) });
  }
  const kv = await mf.getKVNamespace("RECEIVED", "received");
  const expected = Number(expectedText);
  const deadline = Date.now() + 30_000;
  let keys = [];
  while (Date.now() < deadline) {
    keys = (await kv.list()).keys;
    if (keys.length >= expected) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const messages = [];
  for (const key of keys) messages.push(JSON.parse(await kv.get(key.name)));
  process.stdout.write(JSON.stringify(messages));
} finally {
  await mf.dispose();
}
