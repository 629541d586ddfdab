import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { synthInputsHash } from '../../infra/local/iam/stack-roles';
import { LookalikeStack, type LookalikeStackProps } from '../../infra/lookalike-stack';

const REPO = join(__dirname, '..', '..');
const CACHE = join(REPO, '.cache', 'synth');

export interface NagReport {
  violations: Array<{ ruleName: string; description: string; resources: string[] }>;
  acknowledgements: Array<{ path: string; id: string; reason: string }>;
}

/** Every acknowledgement in the tree, as recorded by `Validations.of(scope).acknowledge`. */
function acknowledgementsOf(root: IConstruct): NagReport['acknowledgements'] {
  return root.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) =>
        Object.entries(entry.data as Record<string, string>).map(([id, reason]) => ({
          path: construct.node.path,
          id,
          reason,
        })),
      ),
  );
}

export interface Synthesized {
  nag: NagReport;
  template: Template;
  json: Record<string, unknown>;
  /** cdk.out folder with the assets (bundled functions, layers). */
  outdir: string;
}

/**
 * One synth per variant and input state, shared by every template test and every jest worker through
 * a file cache: esbuild-bundling the functions is the slow part of a synth.
 */
export function synthesize(variant = 'default', props: LookalikeStackProps = {}): Synthesized {
  const key = `${variant}-${synthInputsHash(`${variant}:${JSON.stringify(props)}`)}`;
  const outdir = join(CACHE, key);
  const templateFile = join(outdir, 'Lookalike.template.json');
  if (!existsSync(templateFile)) {
    const staging = `${outdir}.tmp-${process.pid}`;
    rmSync(staging, { recursive: true, force: true });
    mkdirSync(staging, { recursive: true });
    const app = new App({ outdir: staging });
    const stack = new LookalikeStack(app, 'Lookalike', {
      env: { account: '123456789012', region: 'eu-west-1' },
      ...props,
    });
    // cdk-nag walks the construct tree (acknowledgements live there), so it runs before the tree is gone.
    const nag = new AwsSolutionsChecks().validateScope(stack);
    writeJson(join(staging, 'nag-report.json'), {
      violations: nag.violations.map((v) => ({
        ruleName: v.ruleName,
        description: v.description,
        resources: v.violatingResources.map((r) => r.constructPath ?? r.resourceLogicalId ?? '?'),
      })),
      acknowledgements: acknowledgementsOf(stack),
    });
    app.synth();
    if (!existsSync(templateFile)) {
      rmSync(outdir, { recursive: true, force: true });
      renameSync(staging, outdir);
    } else {
      rmSync(staging, { recursive: true, force: true });
    }
    // Old synths of changed inputs are garbage.
    for (const entry of readdirSync(CACHE)) {
      // Staging folders (`.tmp-<pid>`) may be another worker's synth in progress.
      if (entry.startsWith(`${variant}-`) && entry !== key && !entry.includes('.tmp-'))
        rmSync(join(CACHE, entry), { recursive: true, force: true });
    }
  }
  const json = JSON.parse(readFileSync(templateFile, 'utf8')) as Record<string, unknown>;
  const nag = JSON.parse(readFileSync(join(outdir, 'nag-report.json'), 'utf8')) as NagReport;
  return { template: Template.fromJSON(json), json, outdir, nag };
}

export function directoryBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    total += entry.isDirectory() ? directoryBytes(path) : statSync(path).size;
  }
  return total;
}

export function writeJson(file: string, value: unknown): void {
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
}
