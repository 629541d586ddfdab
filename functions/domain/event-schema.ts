import * as z from 'zod';
import { EVENT_TYPES } from './interest-profile';
import { isWellFormedUnicode } from './unicode';

const WELL_FORMED = 'must be well-formed Unicode (a lone surrogate cannot be stored: it would become U+FFFD)';
const wellFormed = (schema: z.ZodString) => schema.refine(isWellFormedUnicode, WELL_FORMED);

const id = wellFormed(z.string().min(1).max(256)).refine(
  (value) => !/\p{Cc}/u.test(value),
  'must not contain control characters',
);
/** A user id as events carry it; user ids in paths are held to the same rule. */
export const UserIdSchema = id;

/**
 * The latest instant a JavaScript Date can hold (ECMAScript time values end at 8.64e15 ms): a later
 * number is no time at all, and formatting it throws.
 */
export const MAX_TIMESTAMP_MS = 8.64e15;

/** Epoch milliseconds or an ISO-8601 string with a time zone (its year has four digits). */
const timestamp = z.union([
  z.number().int().nonnegative().max(MAX_TIMESTAMP_MS),
  z.iso.datetime({ offset: true }).transform((value) => Date.parse(value)),
]);

/** A time from an event as ISO 8601, or as the number where no Date can hold it. */
export function describeInstant(ms: number): string {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? `${ms} ms since 1970` : date.toISOString();
}

export const TrackedEventSchema = z.strictObject({
  eventId: id,
  userId: id,
  itemId: wellFormed(z.string().min(1).max(512)),
  type: z.enum(EVENT_TYPES),
  timestamp: timestamp.optional(),
  context: z
    .strictObject({
      recommendationId: wellFormed(z.string().min(1).max(128)).optional(),
      position: z.number().int().nonnegative().max(10_000).optional(),
      surface: wellFormed(z.string().min(1).max(64)).optional(),
    })
    .optional(),
});
export type TrackedEventInput = z.input<typeof TrackedEventSchema>;
export type TrackedEvent = z.output<typeof TrackedEventSchema>;

export const MAX_EVENTS_PER_REQUEST = 100;

/** The envelope is checked as a whole; each event on its own, so one bad event does not sink the rest. */
export const EventBatchSchema = z.strictObject({
  events: z.array(z.unknown()).min(1).max(MAX_EVENTS_PER_REQUEST),
});

export type EventResult =
  | { index: number; eventId: string; status: 'accepted' }
  | { index: number; eventId: string; status: 'duplicate' }
  | { index: number; eventId?: string; status: 'rejected'; code: string; message: string };

const ID_FIELDS = new Set(['eventId', 'userId', 'itemId']);

/**
 * `invalid_id` when one of the event's ids is a string that breaks the id rules (empty, too long,
 * control characters, not well-formed Unicode), so a client can tell a bad key from a bad event;
 * `invalid_event` for everything else.
 */
export function eventRejectionCode(error: z.ZodError): 'invalid_id' | 'invalid_event' {
  const idIssue = (issue: z.core.$ZodIssue) =>
    issue.path.length === 1 && ID_FIELDS.has(String(issue.path[0])) && issue.code !== 'invalid_type';
  return error.issues.some(idIssue) ? 'invalid_id' : 'invalid_event';
}

export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.join('.') || '(event)'}: ${issue.message}`)
    .join('; ');
}
