/**
 * `npm run train [-- --api-port 3000 --data-dir .lookalike]`: runs the learned-similarity trainer
 * once against a running `npm start` (found as `npm run token` finds it: the same flags and
 * LOOKALIKE_API_PORT / LOOKALIKE_DATA_DIR), as an operator's manual run: it may promote at once.
 * Readable lines go to stderr; the run's record (the gate's report, its data sizes and the decision)
 * is the last stdout line, one JSON object. Deployed, invoke the `train-similarity` function with
 * `{ "trigger": "manual" }` instead.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import type { TrainingRecord } from '../../functions/app/train-similarity';
import { createLocalIssuer } from '../local/auth';

const port = (value: string) => {
  const parsed = Number.parseInt(value, 10);
  if (!Number.isInteger(parsed) || parsed < 1 || parsed > 65535)
    throw new InvalidArgumentError('a port is 1..65535');
  return parsed;
};

async function main(): Promise<void> {
  const options = new Command()
    .name('npm run train --')
    .description('Run the learned-similarity trainer once against a running npm start')
    .option(
      '--api-port <port>',
      'the HTTP API port of npm start',
      port,
      Number(process.env.LOOKALIKE_API_PORT ?? 3000),
    )
    .option(
      '--data-dir <dir>',
      'the data folder of npm start (its token issuer key)',
      process.env.LOOKALIKE_DATA_DIR ?? resolve(__dirname, '..', '..', '.lookalike'),
    )
    .parse()
    .opts<{ apiPort: number; dataDir: string }>();
  const keyFile = join(options.dataDir, 'issuer-key.json');
  if (!existsSync(keyFile)) {
    console.error(`no local issuer key in ${options.dataDir}: is npm start running? (or pass --data-dir)`);
    process.exit(2);
  }
  const issuer = await createLocalIssuer({ keyFile });
  const url = `http://127.0.0.1:${options.apiPort}/local/train`;
  process.stderr.write(`training against ${url} ...\n`);
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${await issuer.token('operator', { admin: true })}` },
    });
  } catch (error) {
    console.error(
      `cannot reach npm start at ${url} (${(error as Error).message}): is it running? (or pass --api-port)`,
    );
    process.exit(2);
  }
  const body = await response.text();
  if (!response.ok) {
    console.error(`the trainer answered ${response.status}: ${body}`);
    process.exit(1);
  }
  const record = JSON.parse(body) as TrainingRecord;
  const { data } = record.gate;
  process.stderr.write(
    `${record.outcome}: ${record.summary}\n` +
      `data: ${data.events} events of ${data.users} users (${data.evaluatedUsers} evaluated), ${data.similarPairs} co-engaged pairs\n` +
      `report: ${record.reportKey}\n`,
  );
  process.stdout.write(`${JSON.stringify(record)}\n`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
