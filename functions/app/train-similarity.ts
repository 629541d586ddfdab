/**
 * One run of the learned-similarity trainer (issue 18): what the scheduled function and
 * `npm run train` do. Gate a projection trained on the raw events (functions/app/learned-similarity-gate.ts),
 * store the report, and promote the projection when the gate says so, at most once per
 * `minDaysBetweenAutomaticPromotions` for scheduled runs (an operator's manual run may promote at once).
 */
import type { LearnedProjection } from '../domain/learned-similarity';
import {
  DEFAULT_GATE_POLICY,
  type GateDeps,
  type GatePolicy,
  type GateReport,
  gateProjection,
  type Trainer,
} from './learned-similarity-gate';
import { RolloutRefused } from './rollout';

/** Who started the run: the stack's schedule, or an operator (`npm run train`, a manual invoke). */
export type TrainingTrigger = 'schedule' | 'manual';

/** The gate's report as stored: everything but the candidate's matrix. */
export type StoredGateReport = Omit<GateReport, 'candidate'> & {
  candidate?: Omit<LearnedProjection, 'matrix'>;
};

/** What a run did, as stored in S3, logged and printed by `npm run train`. */
export interface TrainingRecord {
  /** ISO 8601. */
  at: string;
  trigger: TrainingTrigger;
  /**
   * `promoted`: the gate passed and the projection now serves; `refused`: the gate refused (its
   * reasons say why); `held`: the gate passed, but a scheduled run promoted recently.
   */
  outcome: 'promoted' | 'refused' | 'held';
  /** One sentence for a person. */
  summary: string;
  /** The space that serves the projection, when promoted. */
  space?: string;
  /** Where the record was stored (set by the store). */
  reportKey?: string;
  gate: StoredGateReport;
}

/** Where the records of the runs go (functions/adapters/s3/training-reports.ts: beside the index snapshots). */
export interface TrainingReports {
  /** Stores the record; returns where it went. */
  write(record: TrainingRecord): Promise<string>;
}

/** Serving a projection: the rollout path of learned spaces. */
export interface ProjectionPromotion {
  /** When a projection of `baseModelId` was last promoted by a scheduled run (ms); undefined if never. */
  lastAutomaticPromotionAt(baseModelId: string): Promise<number | undefined>;
  /** Makes `projection` serve; returns its space. */
  promote(
    projection: LearnedProjection,
    context: { trigger: TrainingTrigger; gate: GateReport },
  ): Promise<{ space: string }>;
}

export interface TrainSimilarityDeps extends GateDeps {
  reports: TrainingReports;
  promotion: ProjectionPromotion;
}

export interface TrainSimilarityOptions {
  trigger: TrainingTrigger;
  policy?: GatePolicy;
  trainer?: Trainer;
  /** Scheduled runs promote at most once in this many days. */
  minDaysBetweenAutomaticPromotions?: number;
}

export const MIN_DAYS_BETWEEN_AUTOMATIC_PROMOTIONS = 7;

const DAY_MS = 86_400_000;

function stored(report: GateReport): StoredGateReport {
  const { candidate, ...rest } = report;
  if (!candidate) return rest;
  const { matrix: _matrix, ...described } = candidate;
  return { ...rest, candidate: described };
}

function refusalSummary(report: GateReport): string {
  return `not promoted: ${report.reasons.map((reason) => reason.message).join('; ')}`;
}

type Outcome = Pick<TrainingRecord, 'outcome' | 'summary' | 'space'>;

const margin = (m: { mean: number; standardError: number } | undefined) =>
  m ? `+${m.mean.toFixed(3)} ± ${m.standardError.toFixed(3)}` : '';

/** What the run does with the gate's report: refuse, hold (a recent scheduled promotion) or promote. */
async function decide(
  deps: TrainSimilarityDeps,
  options: TrainSimilarityOptions,
  report: GateReport,
): Promise<Outcome> {
  if (report.decision !== 'promote' || !report.candidate)
    return { outcome: 'refused', summary: refusalSummary(report) };
  const minDays = options.minDaysBetweenAutomaticPromotions ?? MIN_DAYS_BETWEEN_AUTOMATIC_PROMOTIONS;
  const last =
    options.trigger === 'schedule'
      ? await deps.promotion.lastAutomaticPromotionAt(report.baseModelId)
      : undefined;
  if (last !== undefined && deps.now() - last < minDays * DAY_MS)
    return {
      outcome: 'held',
      summary:
        `the gate passed, but a scheduled run promoted ${((deps.now() - last) / DAY_MS).toFixed(1)} days ago ` +
        `(at most one automatic promotion per ${minDays} days; \`npm run train\` may promote at once)`,
    };
  try {
    const { space } = await deps.promotion.promote(report.candidate, {
      trigger: options.trigger,
      gate: report,
    });
    const { cutoff } = report.policy;
    const { recall, ndcg } = report.figures?.margins ?? {};
    return {
      outcome: 'promoted',
      space,
      summary:
        `promoted ${space}: Recall@${cutoff} ${margin(recall)}, NDCG@${cutoff} ${margin(ndcg)} ` +
        `over ${report.data.evaluatedUsers} users`,
    };
  } catch (error) {
    // A refusal (the dynamodb-vector backend, a concurrent promotion) is the run's outcome, not a failure.
    if (!(error instanceof RolloutRefused)) throw error;
    return {
      outcome: 'refused',
      summary: `the gate passed, but the promotion was refused (${error.code}): ${error.message}`,
    };
  }
}

/** Gates, records and (when the gate and the schedule allow) promotes. */
export async function trainSimilarity(
  deps: TrainSimilarityDeps,
  options: TrainSimilarityOptions,
): Promise<TrainingRecord> {
  const report = await gateProjection(deps, {
    policy: options.policy ?? DEFAULT_GATE_POLICY,
    ...(options.trainer ? { trainer: options.trainer } : {}),
  });
  const at = new Date(deps.now()).toISOString();
  const record: TrainingRecord = {
    at,
    trigger: options.trigger,
    ...(await decide(deps, options, report)),
    gate: stored(report),
  };
  record.reportKey = await deps.reports.write(record);
  return record;
}
