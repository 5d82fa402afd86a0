/** A seeded generator of integers in [0, n), so that a failure can be replayed. */
export function rng(seed: number): (n: number) => number {
  let x = seed >>> 0;
  return (n) => {
    x = (Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    x ^= x >>> 13;
    return Math.floor(((x >>> 0) / 4294967296) * n);
  };
}
