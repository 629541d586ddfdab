/** A 32-bit hash of a string (Java's `hashCode`, unsigned): the home shard of an item's rows. */
export const stringHash = (value: string): number => {
  let hash = 0;
  for (const char of value) hash = (hash * 31 + (char.codePointAt(0) ?? 0)) >>> 0;
  return hash;
};

/** MurmurHash3's finaliser: every bit of the input moves the low bits (sequential ids spread). */
export const mix32 = (value: number): number => {
  let h = value >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
};
