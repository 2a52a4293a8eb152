/**
 * Circom 2 templates of the compiler's non-linear gadgets (needs circomlib's `bitify.circom` and
 * `comparators.circom`). Linear operations (constant matrix products, convolutions, sums) need no
 * gadget: multiplying a signal by a constant is free in R1CS. Every template below proves its
 * result with one bit decomposition sized by the static range analysis.
 *
 * - `ZkRequant(s, k, base, hasLo, hiMode, j, m, h, even, parity)`: `out = clamp(floor(in / 2^s),
 *   lo, hi)`. `in − p − base·2^s` is decomposed into `s + k + hasLo` bits: the low `s` bits are the remainder,
 *   the next `k` the quotient above `base`; with a lower clamp (`hasLo = 1`, `base = lo − 2^k`)
 *   the top bit says `q >= lo`. The upper clamp `hi = ref + h` (`ref` = `lo` or `base`) reuses the
 *   quotient bits when `h + 1 = 2^j` (`hiMode 1`: one IsZero over the high bits) or compares with
 *   `m + 1` more bits (`hiMode 2`). With `even = 1` the witness bit `p` (0 otherwise) rounds the
 *   exact ties (`in ≡ 0 mod 2^s`; `in` holds the half) down when `floor(in / 2^s) − zeroPoint` is
 *   odd, i.e. half to even: the tie is `z = remainder + p − p·2^s = 0` and the constraint
 *   `odd · z · inv = odd` forbids an odd result on it, `odd = parity xor bit s`,
 *   `parity = (base − zeroPoint) mod 2`. Three constraints: `p` binary, `odd · z`, the inverse.
 * - `ZkTruncAdjust(m, s)`: adds `2^s − 1` to negative inputs so that a floor shift rounds toward
 *   zero (ONNX integer `Div`); `m + 1` bits give the sign.
 * - `ZkMax(m)`: `max(a, b)` for `|a − b| < 2^m`; `m + 1` bits give the sign of `a − b`.
 *
 * @example
 * ```ts
 * const source = `pragma circom 2.1.6;\ninclude "bitify.circom";\ninclude "comparators.circom";\n${zkGadgetsCircom}`
 * ```
 */
export const zkGadgetsCircom = `// y = clamp(floor(in / 2^s), lo, hi), proven with one bit decomposition (see emitCircom)
template ZkRequant(s, k, base, hasLo, hiMode, j, m, h, even, parity) {
  signal input in;
  signal output out;
  // half to even: p = 1 on an exact tie whose quotient minus the zero point is odd
  signal p;
  signal oddZ;
  signal inv;
  if (even == 1) {
    var d = in - base * (2 ** s);
    p <-- (d % (2 ** s) == 0 && ((d \\ (2 ** s)) + parity) % 2 == 1) ? 1 : 0;
    p * (p - 1) === 0;
  } else {
    p <== 0;
  }
  component bits = Num2Bits(s + k + hasLo);
  bits.in <== in - p - base * (2 ** s);
  if (even == 1) {
    // z = 0 exactly on a tie: remainder 0 (p = 0) or 2^s - 1 (p = 1)
    var z = p - p * (2 ** s);
    for (var e = 0; e < s; e++) {
      z += bits.out[e] * (2 ** e);
    }
    var odd = parity;
    if (k + hasLo > 0) {
      odd = parity + bits.out[s] - 2 * parity * bits.out[s];
    }
    oddZ <== odd * z;
    inv <-- oddZ != 0 ? 1 / oddZ : 0;
    oddZ * inv === odd;
  } else {
    oddZ <== 0;
    inv <== 0;
  }
  var low = 0;
  for (var a = 0; a < k; a++) {
    low += bits.out[s + a] * (2 ** a);
  }
  var ref = base + hasLo * (2 ** k);
  signal u;
  signal t;
  component isZero;
  component compare;
  if (hiMode == 0) {
    if (hasLo == 1) {
      u <== bits.out[s + k] * low;
    } else {
      u <== low;
    }
    t <== 0;
    out <== ref + u;
  } else if (hiMode == 1) {
    var high = 0;
    for (var b = j; b < k; b++) {
      high += bits.out[s + b];
    }
    var lowJ = 0;
    for (var c = 0; c < j; c++) {
      lowJ += bits.out[s + c] * (2 ** c);
    }
    isZero = IsZero();
    isZero.in <== high;
    t <== isZero.out * (lowJ - h);
    if (hasLo == 1) {
      u <== bits.out[s + k] * (h + t);
    } else {
      u <== h + t;
    }
    out <== ref + u;
  } else {
    if (hasLo == 1) {
      u <== bits.out[s + k] * low;
    } else {
      u <== low;
    }
    compare = Num2Bits(m + 1);
    compare.in <== h - u + 2 ** m;
    t <== compare.out[m] * (u - h);
    out <== ref + h + t;
  }
}

// in + (2^s - 1) when in < 0 (floor of the result then rounds toward zero); |in| <= 2^m
template ZkTruncAdjust(m, s) {
  signal input in;
  signal output out;
  component sign = Num2Bits(m + 1);
  sign.in <== in + 2 ** m;
  out <== in + (1 - sign.out[m]) * (2 ** s - 1);
}

// max(a, b) for |a - b| < 2^m
template ZkMax(m) {
  signal input a;
  signal input b;
  signal output out;
  component sign = Num2Bits(m + 1);
  sign.in <== a - b + 2 ** m;
  signal t;
  t <== sign.out[m] * (a - b);
  out <== b + t;
}
`
