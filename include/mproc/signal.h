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

/* Send sig to pid (kill(2)): 0, -EINVAL (bad signal or pid), -ESRCH, -EPERM. */
MP_API int mp_signal_send(pid_t pid, int sig);

/* Block / unblock n signals in the calling thread.  -EINVAL for a bad one. */
MP_API int mp_signal_block(const int *sigs, size_t n);
MP_API int mp_signal_unblock(const int *sigs, size_t n);

/*
 * mp_signal_wait - wait up to timeout seconds for one of n signals (blocking
 * them first if needed; they stay blocked) through a signalfd.  Returns the
 * signal number, and the sender's pid in *sender (may be NULL); -ETIMEDOUT.
 */
MP_API int mp_signal_wait(const int *sigs, size_t n, double timeout,
			  pid_t *sender);

#ifdef __cplusplus
}
#endif

#endif /* MPROC_SIGNAL_H */
