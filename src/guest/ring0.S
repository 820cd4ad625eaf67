/* The guest runtime's ring-0 part: everything the guest may run at CPL 0. On
 * a nested hypervisor ring 0 is emulated instruction by instruction, so this
 * is kept to a few dozen integer instructions: the boot stub that drops to
 * ring 3, the system-call trampoline that hands the call to the host with
 * one exit, and the exception stubs that report a fault and never return.
 * It lives in .ktext, which the linker script places at ASYLO_KVM_KERNEL_BASE
 * and the VMM maps for ring 0 only. */
#include "backends/kvm/kvm_layout.h"

    .section .ktext, "ax"
    .code64

/* The header the VMM reads (asylo__kvm_kernel_header). */
    .globl asylo_guest_kernel_header
asylo_guest_kernel_header:
    .long ASYLO_KVM_KERNEL_MAGIC
    .long 1
    .quad boot_start
    .quad asylo_guest_syscall_trampoline
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    .quad isr\n
    .endr

/* Entered once, at CPL 0, with the VMM's RDI (ring-3 entry) and RSI (ring-3
 * stack top). IF stays clear: the guest has no interrupt sources. IOPL is 0,
 * so ring 3 reaches only the ports the TSS bitmap allows. */
boot_start:
    pushq $ASYLO_KVM_SEL_UDATA
    pushq %rsi
    pushq $0x2
    pushq $ASYLO_KVM_SEL_UCODE
    pushq %rdi
    iretq

/* System calls. `syscall` jumps to LSTAR, this trampoline in ring-3 text.
 * On a paravirtual nested hypervisor (kvm_pvm) the jump keeps CPL 3 (and
 * software interrupts there are #UD), on bare-metal KVM it enters CPL 0 on
 * the ring-3 stack. The trampoline works at either level without touching
 * the stack (the caller's red zone is live): it copies the registers into
 * the system-call page, makes one exit to the host, and returns to RCX by
 * `jmp` at CPL 3 or by `sysretq` (RFLAGS from R11) at CPL 0. Only RAX (the
 * result), RCX and R11 change, as the system-call ABI allows. */
    .section .text.asylo_syscall, "ax"
    .globl asylo_guest_syscall_trampoline
asylo_guest_syscall_trampoline:
    movq %rax, ASYLO_KVM_SYSCALL_RECORD
    movq %rdi, ASYLO_KVM_SYSCALL_RECORD + 8
    movq %rsi, ASYLO_KVM_SYSCALL_RECORD + 16
    movq %rdx, ASYLO_KVM_SYSCALL_RECORD + 24
    movq %r10, ASYLO_KVM_SYSCALL_RECORD + 32
    movq %r8, ASYLO_KVM_SYSCALL_RECORD + 40
    movq %r9, ASYLO_KVM_SYSCALL_RECORD + 48
    movw $ASYLO_KVM_PORT_SYSCALL, %dx
    outb %al, %dx
    movl %cs, %eax
    testl $3, %eax
    movq ASYLO_KVM_SYSCALL_RECORD + 24, %rdx
    movq ASYLO_KVM_SYSCALL_RECORD + 56, %rax
    jnz 1f
    sysretq
1:
    jmp *%rcx

/* Exceptions: each stub pushes a zero error code where the processor pushes
 * none, then its vector, and the common part copies the frame and CR2 into
 * the fault record and reports it. The host ends the call there; if it ever
 * resumes the vCPU, the report repeats. */
    .macro isr_noerr n
isr\n:
    pushq $0
    pushq $\n
    jmp isr_common
    .endm
    .macro isr_err n
isr\n:
    pushq $\n
    jmp isr_common
    .endm

    isr_noerr 0
    isr_noerr 1
    isr_noerr 2
    isr_noerr 3
    isr_noerr 4
    isr_noerr 5
    isr_noerr 6
    isr_noerr 7
    isr_err 8
    isr_noerr 9
    isr_err 10
    isr_err 11
    isr_err 12
    isr_err 13
    isr_err 14
    isr_noerr 15
    isr_noerr 16
    isr_err 17
    isr_noerr 18
    isr_noerr 19
    isr_noerr 20
    isr_err 21
    isr_noerr 22
    isr_noerr 23
    isr_noerr 24
    isr_noerr 25
    isr_noerr 26
    isr_noerr 27
    isr_noerr 28
    isr_err 29
    isr_err 30
    isr_noerr 31

isr_common:
    popq %rax
    movq %rax, ASYLO_KVM_FAULT_RECORD
    popq %rax
    movq %rax, ASYLO_KVM_FAULT_RECORD + 8
    popq %rax
    movq %rax, ASYLO_KVM_FAULT_RECORD + 16
    popq %rax
    movq %rax, ASYLO_KVM_FAULT_RECORD + 24
    popq %rax
    movq %rax, ASYLO_KVM_FAULT_RECORD + 32
    popq %rax
    movq %rax, ASYLO_KVM_FAULT_RECORD + 40
    movq %cr2, %rax
    movq %rax, ASYLO_KVM_FAULT_RECORD + 48
    movw $ASYLO_KVM_PORT_FAULT, %dx
1:
    outb %al, %dx
    jmp 1b

    .section .note.GNU-stack, "", @progbits
