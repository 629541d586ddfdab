/**
 * A promoted learned projection is a vector space of its own: its id is the base model id, a `~`
 * (a character no model id may hold, so a projected space never collides with a model's), and a
 * version derived from the projection itself (same matrix, same id; so a promotion is idempotent):
 * `<base model id>~p<10 hex digits>`.
 */
import { createHash } from 'node:crypto';
import { type LearnedProjection, LearnedSimilarityError } from './learned-similarity';

export const LEARNED_SPACE_SEPARATOR = '~';

/**
 * A space id is a key of the Items row's `vectors` map and a name in projection expressions:
 * DynamoDB's 255-byte limit on such attribute names holds it (ids are ASCII). A base model id within
 * the manifest's 100 characters makes a space id of at most 112.
 */
export const MAX_SPACE_ID_LENGTH = 255;

/** `p` and 10 hex digits of SHA-256 over the base model id, the dimension and the float32 matrix. */
export function projectionVersion(
  projection: Pick<LearnedProjection, 'baseModelId' | 'dim' | 'matrix'>,
): string {
  const hash = createHash('sha256');
  hash.update(`${projection.baseModelId}\n${projection.dim}\n`);
  hash.update(Buffer.from(Float32Array.from(projection.matrix).buffer));
  return `p${hash.digest('hex').slice(0, 10)}`;
}

/** `<base model id>~<version>`; refused when longer than a model id may be. */
export function learnedSpaceId(baseModelId: string, version: string): string {
  const space = `${baseModelId}${LEARNED_SPACE_SEPARATOR}${version}`;
  if (space.length > MAX_SPACE_ID_LENGTH)
    throw new LearnedSimilarityError(
      'space_id_too_long',
      `space id ${space} has ${space.length} characters; the limit is ${MAX_SPACE_ID_LENGTH} (base model ids of up to ${MAX_SPACE_ID_LENGTH - version.length - 1} characters can be projected)`,
    );
  return space;
}

/** The base model of a space: the space itself for a model's space. */
export const baseModelOf = (space: string): string => space.split(LEARNED_SPACE_SEPARATOR)[0] as string;

export const isLearnedSpace = (space: string): boolean => space.includes(LEARNED_SPACE_SEPARATOR);

/** What the promotion gate said, kept with the artefact: figures and data sizes, never a user id. */
export interface GateSummary {
  decision: 'promote' | 'refuse';
  reasons: string[];
  data: Record<string, number>;
  figures?: {
    base: Record<string, number>;
    projected: Record<string, number>;
    margins: Record<string, { mean: number; standardError: number; users: number }>;
  };
}

/** The stored artefact of a promoted projection: written once, never changed (S3, beside the snapshots). */
export interface ProjectionArtefact {
  space: string;
  baseModelId: string;
  version: string;
  dim: number;
  /** L, row-major dim x dim (see projectVector). */
  matrix: number[];
  /** ISO 8601: when the artefact was written. */
  createdAt: string;
  /** ISO 8601: when the projection was fitted. */
  trainedAt: string;
  /** The trainer's data sizes (counts only). */
  training: LearnedProjection['data'];
  gate?: GateSummary;
}
