/**
 * Trending (issue 22): items whose engagement is rising fastest. Beside popularity's 30-day counter
 * the event write path keeps a short-half-life one (1 day by default), on the same Stats row and in
 * the same transaction. An item's trend compares its short-term mass with what that mass would be had
 * engagement kept its long-run pace, plus a floor: a brand-new item with one click is not a trend.
 *
 * Frames: popularity's frame weights grow 2^(t / half-life) from a fixed epoch, and the SDK writes
 * numbers only up to 2^53, which a 1-day half-life would pass 53 days after the epoch. So the short
 * counter restarts every `TREND_FRAME_HALF_LIVES` half-lives: an event adds
 * typeWeight * 2^((at - frameStart) / halfLife) (below 2^16 times its type weight) to its frame's
 * attribute, named by the frame's start. A frame two frames back holds nothing above 2^-16 of a fresh
 * event's weight, so the writer drops it and the reader needs only what is left.
 */

/** Frame length in short half-lives: weights stay below 2^16 per event. */
export const TREND_FRAME_HALF_LIVES = 16;

const DAY_MS = 86_400_000;

export interface TrendingSettings {
  /** Half-life of the short counter (ms); the writer (track) and the reader (recommend) must agree. */
  halfLifeMs: number;
  /**
   * The least short-term mass (type weights decayed to now) an item needs to trend: 12 clicks, two
   * cart adds, a purchase and a like; one click, or one shopper's one purchase, is not a trend.
   */
  minMass: number;
  /**
   * Added to an item's expected short-term mass before dividing: an item with little history needs
   * real volume to score high, not one lucky click over nothing.
   */
  floorMass: number;
}

/**
 * One day: short enough that a burst this afternoon shows against the month, long enough that the
 * daily rhythm (evenings busier than nights) does not make every item trend each evening.
 */
export const DEFAULT_TRENDING: TrendingSettings = { halfLifeMs: DAY_MS, minMass: 6, floorMass: 2 };

/** The short counter's share of one event: the frame it falls in and its weight there. */
export interface RecentWeight {
  /** Start of the frame (epoch ms): the counter attribute's name carries it. */
  frameStart: number;
  weight: number;
}

/** What the writer adds for one event: its frame and weight, and the frame it drops (two back). */
export interface RecentIncrement extends RecentWeight {
  staleFrameStart: number;
}

export const frameLengthMs = (halfLifeMs: number) => TREND_FRAME_HALF_LIVES * halfLifeMs;

/**
 * An event's weight in the short counter, or undefined when it is older than one frame at `now` (it
 * would add less than 2^-16 of a fresh event's weight, to a frame the writer is dropping anyway).
 */
export function recentWeight(
  event: { at: number; typeWeight: number },
  epoch: number,
  halfLifeMs: number,
  now: number,
): RecentIncrement | undefined {
  const length = frameLengthMs(halfLifeMs);
  if (event.typeWeight <= 0 || event.at < now - length) return undefined;
  // Whole milliseconds: the start names the counter's attribute.
  const frameStart = Math.round(epoch + Math.floor((event.at - epoch) / length) * length);
  return {
    frameStart,
    weight: event.typeWeight * 2 ** ((event.at - frameStart) / halfLifeMs),
    staleFrameStart: frameStart - 2 * length,
  };
}

/** Frame weights summed and decayed to `now`: the item's short-term mass. */
export function recentMass(frames: readonly RecentWeight[], now: number, halfLifeMs: number): number {
  return frames.reduce((sum, f) => sum + f.weight * 2 ** ((f.frameStart - now) / halfLifeMs), 0);
}

export interface TrendingCandidate {
  itemId: string;
  /** Short-term mass, decayed to now. */
  recent: number;
  /** The short-term mass the item's long-run pace predicts: popularity * short / long half-life. */
  expected: number;
  /** recent / (expected + floor). */
  score: number;
}

/**
 * Trending items, best first. `recent` is each item's short-term frames; `popularity` its long-term
 * mass decayed to now (half-life `longHalfLifeMs`). At a steady pace an item's short mass is its long
 * mass scaled by the ratio of half-lives, so the score is above 1 only while engagement runs faster
 * than its own past. An item trends when its short-term mass is at least `minMass` and its score is
 * above 1; ties go to the larger short-term mass, then the item id.
 */
export function trendingScores(input: {
  recent: ReadonlyMap<string, readonly RecentWeight[]>;
  popularity: ReadonlyMap<string, number>;
  longHalfLifeMs: number;
  settings: TrendingSettings;
  now: number;
}): TrendingCandidate[] {
  const { settings, now } = input;
  const ratio = settings.halfLifeMs / input.longHalfLifeMs;
  const candidates: TrendingCandidate[] = [];
  for (const [itemId, frames] of input.recent) {
    const recent = recentMass(frames, now, settings.halfLifeMs);
    if (!(recent >= settings.minMass)) continue;
    const expected = (input.popularity.get(itemId) ?? 0) * ratio;
    const score = recent / (expected + settings.floorMass);
    if (score > 1) candidates.push({ itemId, recent, expected, score });
  }
  return candidates.sort(
    (a, b) => b.score - a.score || b.recent - a.recent || (a.itemId < b.itemId ? -1 : 1),
  );
}
