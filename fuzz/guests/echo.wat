;; A `wasi` guest for the wasi_output fuzz target: it reads its whole stdin, finds the first
;; `!`, decodes the hexadecimal digits that follow, and writes the decoded bytes to stdout as
;; its answer. The harness puts `!<hex of the fuzz input>` into the request, so the fuzzer
;; controls the module's output byte for byte. Exports all three entry points.
(module
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  ;; 0..8: an iovec; 16..20: a byte count. stdin at 0x1000 (0x7f000 bytes), output at 0x80000.
  (memory (export "memory") 16)

  (func $hex (param $c i32) (result i32)
    (if (i32.and (i32.ge_u (local.get $c) (i32.const 48)) (i32.le_u (local.get $c) (i32.const 57)))
      (then (return (i32.sub (local.get $c) (i32.const 48)))))
    (if (i32.and (i32.ge_u (local.get $c) (i32.const 97)) (i32.le_u (local.get $c) (i32.const 102)))
      (then (return (i32.sub (local.get $c) (i32.const 87)))))
    (i32.const -1))

  ;; Reads stdin into [at, at+cap); returns the byte count.
  (func $read_all (param $at i32) (param $cap i32) (result i32)
    (local $n i32)
    (block $done
      (loop $more
        (i32.store (i32.const 0) (i32.add (local.get $at) (local.get $n)))
        (i32.store (i32.const 4) (i32.sub (local.get $cap) (local.get $n)))
        (br_if $done (i32.eqz (i32.load (i32.const 4))))
        (br_if $done (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 16)))
        (br_if $done (i32.eqz (i32.load (i32.const 16))))
        (local.set $n (i32.add (local.get $n) (i32.load (i32.const 16))))
        (br $more)))
    (local.get $n))

  ;; Decodes the hex digits after the first `!` in [at, at+len) to dst; -1 without a `!`.
  (func $unhex (param $at i32) (param $len i32) (param $dst i32) (result i32)
    (local $i i32) (local $end i32) (local $hi i32) (local $lo i32) (local $n i32)
    (local.set $end (i32.add (local.get $at) (local.get $len)))
    (local.set $i (local.get $at))
    (block $found
      (loop $scan
        (if (i32.ge_u (local.get $i) (local.get $end)) (then (return (i32.const -1))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $found (i32.eq (i32.load8_u (i32.sub (local.get $i) (i32.const 1))) (i32.const 33)))
        (br $scan)))
    (block $stop
      (loop $pair
        (br_if $stop (i32.ge_u (i32.add (local.get $i) (i32.const 1)) (local.get $end)))
        (local.set $hi (call $hex (i32.load8_u (local.get $i))))
        (local.set $lo (call $hex (i32.load8_u offset=1 (local.get $i))))
        (br_if $stop (i32.or (i32.lt_s (local.get $hi) (i32.const 0)) (i32.lt_s (local.get $lo) (i32.const 0))))
        (i32.store8 (i32.add (local.get $dst) (local.get $n))
          (i32.or (i32.shl (local.get $hi) (i32.const 4)) (local.get $lo)))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (local.set $i (i32.add (local.get $i) (i32.const 2)))
        (br $pair)))
    (local.get $n))

  (func $echo
    (local $len i32) (local $n i32)
    (local.set $len (call $read_all (i32.const 0x1000) (i32.const 0x7f000)))
    (local.set $n (call $unhex (i32.const 0x1000) (local.get $len) (i32.const 0x80000)))
    (if (i32.lt_s (local.get $n) (i32.const 0)) (then (return)))
    (i32.store (i32.const 0) (i32.const 0x80000))
    (i32.store (i32.const 4) (local.get $n))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 16))))

  (export "validate" (func $echo))
  (export "authn" (func $echo))
  (export "authz" (func $echo)))
