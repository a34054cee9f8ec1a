/*
 * mproc/signal.h - sending signals and waiting for them synchronously
 * (Python's os.kill and signal.sigtimedwait).
 *
 * A signal waited for this way must be blocked in the waiting thread before
 * it can arrive (else its default action runs: SIGUSR1 would end the
 * process): call mp_signal_block early, before starting the processes that
 * will send it.  Children inherit the blocked mask.
 */
#ifndef MPROC_SIGNAL_H
#define MPROC_SIGNAL_H

#include <stddef.h>
#include <sys/types.h>

#include "mproc/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * mp_signal_send - send sig to pid (os.kill, kill(2); sig 0 checks that
 * pid exists): 0, -EINVAL (bad signal, or pid <= 0: one process only),
 * -ESRCH, -EPERM.  Thread-safe.
 */
MP_API int mp_signal_send(pid_t pid, int sig);

/*
 * mp_signal_block / mp_signal_unblock - block / unblock n signals in the
 * calling thread (pthread_sigmask).  0; -EINVAL for NULL sigs, n == 0, or
 * a signal that does not exist or cannot be blocked (SIGKILL, SIGSTOP).
 * Thread-safe: each thread has its own mask.
 */
MP_API int mp_signal_block(const int *sigs, size_t n);
MP_API int mp_signal_unblock(const int *sigs, size_t n);

/*
 * mp_signal_wait - wait up to timeout seconds for one of n signals (blocking
 * them first if needed; they stay blocked) through a signalfd
 * (signal.sigtimedwait).  Returns the signal number (> 0), and the sender's
 * pid in *sender (may be NULL); -ETIMEDOUT when none came within timeout
 * (0 included); -EINVAL as mp_signal_block, or for a bad timeout; -errno
 * (-EMFILE ...).  Thread-safe; a signal goes to one waiter only.
 */
MP_API int mp_signal_wait(const int *sigs, size_t n, double timeout,
			  pid_t *sender);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_SIGNAL_H */
