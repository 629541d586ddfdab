/**
 * `npm run token -- <userId> [--admin] [--data-dir .lookalike]`: a token for the LOCAL issuer of
 * `npm start` (its key lives in the data folder). Local only: deployed stacks trust your identity
 * provider, never this key.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { createLocalIssuer } from '../local/auth';

async function main(): Promise<void> {
  const program = new Command()
    .name('npm run token --')
    .description('Print a token of the local issuer for a user id')
    .argument('<userId>', 'the user the token speaks for')
    .option('--admin', 'an admin token (may act for any user)')
    .option('--expires-in <seconds>', 'lifetime', (v) => Number.parseInt(v, 10), 3600)
    .option(
      '--data-dir <dir>',
      'the data folder of npm start',
      process.env.LOOKALIKE_DATA_DIR ?? resolve(__dirname, '..', '..', '.lookalike'),
    )
    .parse();
  const [userId] = program.args;
  const options = program.opts<{ admin?: boolean; expiresIn: number; dataDir: string }>();
  const keyFile = join(options.dataDir, 'issuer-key.json');
  if (!existsSync(keyFile)) {
    console.error(`no local issuer key in ${options.dataDir}: run \`npm start\` once (or pass --data-dir)`);
    process.exit(2);
  }
  const issuer = await createLocalIssuer({ keyFile });
  process.stdout.write(
    `${await issuer.token(userId as string, { admin: options.admin === true, expiresInSeconds: options.expiresIn })}\n`,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
