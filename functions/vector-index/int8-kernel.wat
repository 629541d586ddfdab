;; The two hot loops of ExactIndex: quantising float32 rows to int8 and scanning the int8 rows.
;;
;; Memory (imported, owned by ExactIndex):
;;   rows     row-major int8 matrix, `stride` bytes per row (stride is a multiple of 32, zero-padded)
;;   queries  `queryCount` int16 query rows, 2 * stride bytes each (zero-padded)
;;   factors  one f32 per query: weight / query quantisation scale
;;   scales   one f32 per row: the row's dequantisation scale (max |v| / 127)
;;   scores   one f32 per row, written: scale_row * sum_k factor_k * (q_k . row)
;;
;; Each row is read from main memory once; the other queries re-read it from L1. Products are
;; int8 x int16 summed in int32: ExactIndex bounds the query range so that a whole row cannot overflow.
(module
  (import "index" "memory" (memory 1))

  (func (export "scan")
    (param $row i32) (param $rowCount i32) (param $stride i32)
    (param $queries i32) (param $queryCount i32) (param $factors i32)
    (param $scales i32) (param $scores i32)
    (local $matrixEnd i32) (local $rowEnd i32) (local $p i32) (local $q i32) (local $k i32)
    (local $x v128) (local $acc0 v128) (local $acc1 v128) (local $acc2 v128) (local $acc3 v128)
    (local $blended f32)
    (local.set $matrixEnd
      (i32.add (local.get $row) (i32.mul (local.get $rowCount) (local.get $stride))))
    (block $done
      (br_if $done (i32.ge_u (local.get $row) (local.get $matrixEnd)))
      (loop $eachRow
        (local.set $rowEnd (i32.add (local.get $row) (local.get $stride)))
        (local.set $blended (f32.const 0))
        (local.set $q (local.get $queries))
        (local.set $k (i32.const 0))
        (loop $eachQuery
          (local.set $acc0 (v128.const i32x4 0 0 0 0))
          (local.set $acc1 (v128.const i32x4 0 0 0 0))
          (local.set $acc2 (v128.const i32x4 0 0 0 0))
          (local.set $acc3 (v128.const i32x4 0 0 0 0))
          (local.set $p (local.get $row))
          ;; 32 int8 components per step, four independent accumulators.
          (loop $eachChunk
            (local.set $x (v128.load (local.get $p)))
            (local.set $acc0
              (i32x4.add (local.get $acc0)
                (i32x4.dot_i16x8_s
                  (i16x8.extend_low_i8x16_s (local.get $x)) (v128.load (local.get $q)))))
            (local.set $acc1
              (i32x4.add (local.get $acc1)
                (i32x4.dot_i16x8_s
                  (i16x8.extend_high_i8x16_s (local.get $x)) (v128.load offset=16 (local.get $q)))))
            (local.set $x (v128.load offset=16 (local.get $p)))
            (local.set $acc2
              (i32x4.add (local.get $acc2)
                (i32x4.dot_i16x8_s
                  (i16x8.extend_low_i8x16_s (local.get $x)) (v128.load offset=32 (local.get $q)))))
            (local.set $acc3
              (i32x4.add (local.get $acc3)
                (i32x4.dot_i16x8_s
                  (i16x8.extend_high_i8x16_s (local.get $x)) (v128.load offset=48 (local.get $q)))))
            (local.set $p (i32.add (local.get $p) (i32.const 32)))
            (local.set $q (i32.add (local.get $q) (i32.const 64)))
            (br_if $eachChunk (i32.lt_u (local.get $p) (local.get $rowEnd))))
          ;; $q now points at the next query row.
          (local.set $acc0
            (i32x4.add
              (i32x4.add (local.get $acc0) (local.get $acc1))
              (i32x4.add (local.get $acc2) (local.get $acc3))))
          (local.set $blended
            (f32.add (local.get $blended)
              (f32.mul
                (f32.load (i32.add (local.get $factors) (i32.shl (local.get $k) (i32.const 2))))
                (f32.convert_i32_s
                  (i32.add
                    (i32.add (i32x4.extract_lane 0 (local.get $acc0)) (i32x4.extract_lane 1 (local.get $acc0)))
                    (i32.add (i32x4.extract_lane 2 (local.get $acc0)) (i32x4.extract_lane 3 (local.get $acc0))))))))
          (local.set $k (i32.add (local.get $k) (i32.const 1)))
          (br_if $eachQuery (i32.lt_u (local.get $k) (local.get $queryCount))))
        (f32.store (local.get $scores) (f32.mul (local.get $blended) (f32.load (local.get $scales))))
        (local.set $scales (i32.add (local.get $scales) (i32.const 4)))
        (local.set $scores (i32.add (local.get $scores) (i32.const 4)))
        (local.set $row (local.get $rowEnd))
        (br_if $eachRow (i32.lt_u (local.get $row) (local.get $matrixEnd))))))

  ;; Quantises one float32 row (`stride` floats, zero-padded) at $source to int8 at $target:
  ;; round(v * 127 / max|v|). Returns max|v|: NaN or infinity if the row was not finite (max
  ;; propagates NaN), 0 for a zero row (which is then written as zeros).
  (func (export "quantise")
    (param $source i32) (param $stride i32) (param $target i32) (result f32)
    (local $p i32) (local $end i32) (local $peak v128) (local $peak1 v128) (local $peak2 v128)
    (local $peak3 v128) (local $scale v128) (local $maxAbs f32)
    (local.set $end (i32.add (local.get $source) (i32.shl (local.get $stride) (i32.const 2))))
    (local.set $p (local.get $source))
    ;; 16 floats per step into four independent maxima (a single one is a latency chain).
    (loop $eachSixteen
      (local.set $peak (f32x4.max (local.get $peak) (f32x4.abs (v128.load (local.get $p)))))
      (local.set $peak1 (f32x4.max (local.get $peak1) (f32x4.abs (v128.load offset=16 (local.get $p)))))
      (local.set $peak2 (f32x4.max (local.get $peak2) (f32x4.abs (v128.load offset=32 (local.get $p)))))
      (local.set $peak3 (f32x4.max (local.get $peak3) (f32x4.abs (v128.load offset=48 (local.get $p)))))
      (local.set $p (i32.add (local.get $p) (i32.const 64)))
      (br_if $eachSixteen (i32.lt_u (local.get $p) (local.get $end))))
    (local.set $peak
      (f32x4.max
        (f32x4.max (local.get $peak) (local.get $peak1))
        (f32x4.max (local.get $peak2) (local.get $peak3))))
    (local.set $maxAbs
      (f32.max
        (f32.max (f32x4.extract_lane 0 (local.get $peak)) (f32x4.extract_lane 1 (local.get $peak)))
        (f32.max (f32x4.extract_lane 2 (local.get $peak)) (f32x4.extract_lane 3 (local.get $peak)))))
    (local.set $scale
      (f32x4.splat
        (select (f32.const 0) (f32.div (f32.const 127) (local.get $maxAbs)) (f32.eq (local.get $maxAbs) (f32.const 0)))))
    (local.set $p (local.get $source))
    ;; 16 floats -> 16 int8 per step; |v| * scale <= 127, so the saturating narrows never clip.
    (loop $eachOutput
      (v128.store (local.get $target)
        (i8x16.narrow_i16x8_s
          (i16x8.narrow_i32x4_s
            (i32x4.trunc_sat_f32x4_s (f32x4.nearest (f32x4.mul (v128.load (local.get $p)) (local.get $scale))))
            (i32x4.trunc_sat_f32x4_s (f32x4.nearest (f32x4.mul (v128.load offset=16 (local.get $p)) (local.get $scale)))))
          (i16x8.narrow_i32x4_s
            (i32x4.trunc_sat_f32x4_s (f32x4.nearest (f32x4.mul (v128.load offset=32 (local.get $p)) (local.get $scale))))
            (i32x4.trunc_sat_f32x4_s (f32x4.nearest (f32x4.mul (v128.load offset=48 (local.get $p)) (local.get $scale)))))))
      (local.set $p (i32.add (local.get $p) (i32.const 64)))
      (local.set $target (i32.add (local.get $target) (i32.const 16)))
      (br_if $eachOutput (i32.lt_u (local.get $p) (local.get $end))))
    (local.get $maxAbs)))
