;; A Kubewarden policy for the wapc_host fuzz target: a tiny interpreter whose program comes from
;; the request (hex after the first `!`, as in echo.wat), so that the fuzzer chooses which host
;; functions the guest calls, in which order, with which pointers and lengths, and what it
;; answers. The same module runs in waPC mode (`__guest_call`) and, with the metadata section the
;; harness adds in place of the marker below, in Kubewarden's WASI mode (`_start`).
;;
;; Program: a sequence of operations, one opcode byte (taken modulo 13) followed by its
;; arguments, each a little-endian 32-bit word (zero past the end of the program):
;;   0 __host_call(8 args)       1 __guest_response(ptr, len)   2 __guest_error(ptr, len)
;;   3 __host_response(ptr)      4 __host_error(ptr)            5 __console_log(ptr, len)
;;   6 __guest_request(op, msg)  7 store: addr, n (one byte), then n bytes copied to addr
;;   8 host.call(8 args)         9 make __guest_call return 0 (WASI mode: proc_exit(1))
;;  10 fd_write(fd, iovs, n, nwritten)   11 fd_read(fd, iovs, n, nread)   12 random_get(ptr, len)
;; Without a program it accepts; validate_settings always answers {"valid":true}.
(module
  (import "wapc" "__guest_request" (func $guest_request (param i32 i32)))
  (import "wapc" "__guest_response" (func $guest_response (param i32 i32)))
  (import "wapc" "__guest_error" (func $guest_error (param i32 i32)))
  (import "wapc" "__host_call" (func $host_call (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wapc" "__host_response_len" (func $host_response_len (result i32)))
  (import "wapc" "__host_response" (func $host_response (param i32)))
  (import "wapc" "__host_error_len" (func $host_error_len (result i32)))
  (import "wapc" "__host_error" (func $host_error (param i32)))
  (import "wapc" "__console_log" (func $console_log (param i32 i32)))
  (import "host" "call" (func $wasi_host_call (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  ;;@METADATA@
  ;; 0..20 scratch; 0x100 operation; 0x1000 payload/stdin; 0x50000 program; 8 pages in all.
  (memory (export "memory") 8)
  (data (i32.const 32) "{\"valid\":true}")
  (data (i32.const 64) "{\"accepted\":true}")
  (global $pc (mut i32) (i32.const 0))
  (global $end (mut i32) (i32.const 0))

  (func $hex (param $c i32) (result i32)
    (if (i32.and (i32.ge_u (local.get $c) (i32.const 48)) (i32.le_u (local.get $c) (i32.const 57)))
      (then (return (i32.sub (local.get $c) (i32.const 48)))))
    (if (i32.and (i32.ge_u (local.get $c) (i32.const 97)) (i32.le_u (local.get $c) (i32.const 102)))
      (then (return (i32.sub (local.get $c) (i32.const 87)))))
    (i32.const -1))

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

  (func $write_out (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 16))))

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

  (func $byte (result i32)
    (local $b i32)
    (if (i32.ge_u (global.get $pc) (global.get $end)) (then (return (i32.const 0))))
    (local.set $b (i32.load8_u (global.get $pc)))
    (global.set $pc (i32.add (global.get $pc) (i32.const 1)))
    (local.get $b))

  (func $arg (result i32)
    (i32.or
      (i32.or (call $byte) (i32.shl (call $byte) (i32.const 8)))
      (i32.or (i32.shl (call $byte) (i32.const 16)) (i32.shl (call $byte) (i32.const 24)))))

  (func $run (param $at i32) (param $len i32) (result i32)
    (local $ret i32) (local $addr i32) (local $n i32)
    (local.set $ret (i32.const 1))
    (global.set $pc (local.get $at))
    (global.set $end (i32.add (local.get $at) (local.get $len)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (global.get $pc) (global.get $end)))
        (block $op12 (block $op11 (block $op10 (block $op9 (block $op8 (block $op7 (block $op6
        (block $op5 (block $op4 (block $op3 (block $op2 (block $op1 (block $op0
          (br_table $op0 $op1 $op2 $op3 $op4 $op5 $op6 $op7 $op8 $op9 $op10 $op11 $op12
            (i32.rem_u (call $byte) (i32.const 13))))
          (drop (call $host_call (call $arg) (call $arg) (call $arg) (call $arg)
                                 (call $arg) (call $arg) (call $arg) (call $arg)))
          (br $next))
          (call $guest_response (call $arg) (call $arg))
          (br $next))
          (call $guest_error (call $arg) (call $arg))
          (br $next))
          (drop (call $host_response_len))
          (call $host_response (call $arg))
          (br $next))
          (drop (call $host_error_len))
          (call $host_error (call $arg))
          (br $next))
          (call $console_log (call $arg) (call $arg))
          (br $next))
          (call $guest_request (call $arg) (call $arg))
          (br $next))
          (local.set $addr (call $arg))
          (local.set $n (call $byte))
          (if (i32.gt_u (local.get $n) (i32.sub (global.get $end) (global.get $pc)))
            (then (local.set $n (i32.sub (global.get $end) (global.get $pc)))))
          (memory.copy (local.get $addr) (global.get $pc) (local.get $n))
          (global.set $pc (i32.add (global.get $pc) (local.get $n)))
          (br $next))
          (drop (call $wasi_host_call (call $arg) (call $arg) (call $arg) (call $arg)
                                      (call $arg) (call $arg) (call $arg) (call $arg)))
          (br $next))
          (local.set $ret (i32.const 0))
          (br $next))
          (drop (call $fd_write (call $arg) (call $arg) (call $arg) (call $arg)))
          (br $next))
          (drop (call $fd_read (call $arg) (call $arg) (call $arg) (call $arg)))
          (br $next))
        (drop (call $random_get (call $arg) (call $arg)))
        (br $next)))
    (local.get $ret))

  (func (export "__guest_call") (param $op_len i32) (param $msg_len i32) (result i32)
    (local $n i32)
    (if (i32.eq (local.get $op_len) (i32.const 17))
      (then
        (call $guest_response (i32.const 32) (i32.const 14))
        (return (i32.const 1))))
    (if (i32.gt_u (local.get $msg_len) (i32.const 0x4e000))
      (then
        (call $guest_error (i32.const 32) (i32.const 14))
        (return (i32.const 0))))
    (call $guest_request (i32.const 0x100) (i32.const 0x1000))
    (local.set $n (call $unhex (i32.const 0x1000) (local.get $msg_len) (i32.const 0x50000)))
    (if (i32.lt_s (local.get $n) (i32.const 0))
      (then
        (call $guest_response (i32.const 64) (i32.const 17))
        (return (i32.const 1))))
    (call $run (i32.const 0x50000) (local.get $n)))

  (func (export "_start")
    (local $len i32) (local $n i32)
    (local.set $len (call $read_all (i32.const 0x1000) (i32.const 0x4f000)))
    (local.set $n (call $unhex (i32.const 0x1000) (local.get $len) (i32.const 0x50000)))
    (if (i32.lt_s (local.get $n) (i32.const 0))
      (then
        (if (i32.lt_u (local.get $len) (i32.const 8))
          (then (call $write_out (i32.const 32) (i32.const 14)))
          (else (call $write_out (i32.const 64) (i32.const 17))))
        (return)))
    (if (i32.eqz (call $run (i32.const 0x50000) (local.get $n)))
      (then (call $proc_exit (i32.const 1))))))
