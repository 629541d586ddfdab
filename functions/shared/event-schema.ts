import { z } from 'zod';
import { EVENT_TYPES } from './interest-profile';

const id = z
  .string()
  .min(1)
  .max(256)
  .refine((value) => ![...value].some((c) => c.charCodeAt(0) < 32), 'must not contain control characters');
/** A user id as events carry it; user ids in paths are held to the same rule. */
export const UserIdSchema = id;

/** Epoch milliseconds or an ISO-8601 string with a time zone. */
const timestamp = z.union([
  z.number().int().nonnegative(),
  z.iso.datetime({ offset: true }).transform((value) => Date.parse(value)),
]);

export const TrackedEventSchema = z.strictObject({
  eventId: id,
  userId: id,
  itemId: z.string().min(1).max(512),
  type: z.enum(EVENT_TYPES),
  timestamp: timestamp.optional(),
  context: z
    .strictObject({
      recommendationId: z.string().min(1).max(128).optional(),
      position: z.number().int().nonnegative().max(10_000).optional(),
      surface: z.string().min(1).max(64).optional(),
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

export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.join('.') || '(event)'}: ${issue.message}`)
    .join('; ');
}
