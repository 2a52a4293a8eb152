/**
 * circomlib files the {@link inputCommitmentCircom} template needs (circomlib's `circuits/` folder
 * is on the include path).
 *
 * @example
 * ```ts
 * const header = inputCommitmentIncludes.map((file) => `include "${file}";`).join('\n')
 * ```
 */
export const inputCommitmentIncludes = ['poseidon.circom'] as const

/**
 * Circom 2 template `InputCommitment(n)`: the in-circuit twin of `computeInputCommitment`. Input
 * `in[n]` are the input tensor's bytes, which the caller must already have range-checked to
 * 0..255 (`Num2Bits(8)`); packing into 31-byte big-endian field elements is linear (free), then
 * `ceil(ceil(n/31)/4)` circomlib `Poseidon(5)` calls chain the elements starting from `n`.
 * Output `out` is the commitment.
 *
 * @example
 * ```ts
 * const source = `pragma circom 2.1.0;\ninclude "poseidon.circom";\n${inputCommitmentCircom}
 * component main = InputCommitment(784);`
 * ```
 */
export const inputCommitmentCircom = `// Input commitment: bytes packed 31 per field element (big-endian), chained with Poseidon(5)
// starting from the byte length n. The bytes must be range-checked by the caller.
template InputCommitment(n) {
  signal input in[n];
  signal output out;
  var elements = (n + 30) \\ 31;
  var hashes = (elements + 3) \\ 4;
  if (hashes == 0) {
    out <== n;
  } else {
    component hash[hashes];
    for (var h = 0; h < hashes; h++) {
      hash[h] = Poseidon(5);
      if (h == 0) {
        hash[h].inputs[0] <== n;
      } else {
        hash[h].inputs[0] <== hash[h - 1].out;
      }
      for (var j = 0; j < 4; j++) {
        var k = h * 4 + j;
        var e = 0;
        if (k < elements) {
          var start = k * 31;
          var end = start + 31;
          if (end > n) {
            end = n;
          }
          for (var t = start; t < end; t++) {
            e = e * 256 + in[t];
          }
        }
        hash[h].inputs[1 + j] <== e;
      }
    }
    out <== hash[hashes - 1].out;
  }
}
`
