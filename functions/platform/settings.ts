import { ENV } from '../contract/environment';
import {
  DEFAULT_PROFILE_SETTINGS,
  EVENT_TYPES,
  type EventType,
  type ProfileSettings,
} from '../domain/interest-profile';
import { numberEnv, optionalEnv } from './env';

/**
 * Profile settings from the environment (stack props end up here). EVENT_WEIGHTS is JSON, e.g.
 * {"like":2,"purchase":4}; unknown types or negative weights fail at cold start.
 */
export function profileSettingsFromEnv(): ProfileSettings {
  const weights = { ...DEFAULT_PROFILE_SETTINGS.weights };
  const raw = optionalEnv(ENV.EVENT_WEIGHTS);
  if (raw) {
    const parsed = JSON.parse(raw) as Record<string, unknown>;
    for (const [type, weight] of Object.entries(parsed)) {
      if (!EVENT_TYPES.includes(type as EventType))
        throw new Error(`EVENT_WEIGHTS: unknown event type ${type}`);
      if (typeof weight !== 'number' || !(weight >= 0))
        throw new Error(`EVENT_WEIGHTS: ${type} must be a number >= 0`);
      weights[type as EventType] = weight;
    }
  }
  return {
    ...DEFAULT_PROFILE_SETTINGS,
    weights,
    halfLifeDays: numberEnv(ENV.HALF_LIFE_DAYS, DEFAULT_PROFILE_SETTINGS.halfLifeDays, { min: 0.01 }),
    maxCentroids: numberEnv(ENV.MAX_INTEREST_CENTROIDS, DEFAULT_PROFILE_SETTINGS.maxCentroids, {
      min: 1,
      max: 16,
    }),
    joinSimilarity: numberEnv(ENV.CENTROID_JOIN_SIMILARITY, DEFAULT_PROFILE_SETTINGS.joinSimilarity, {
      min: -1,
      max: 1,
    }),
  };
}
