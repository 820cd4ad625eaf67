/* The ring-3 entry the ring-0 boot stub irets to: aligns the stack as the
 * C ABI wants at a call and runs the runtime's main loop, which never
 * returns. */
    .text
    .globl _start
_start:
    andq $-16, %rsp
    xorl %ebp, %ebp
    call asylo_guest_main
    ud2

    .section .note.GNU-stack, "", @progbits
