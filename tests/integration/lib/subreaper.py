"""Run a command and reap every process it leaves behind.

    /usr/bin/python3 subreaper.py PARENT_PID COMMAND [ARG]...

Servers such as Dovecot exit before some of their children do (Dovecot's
log process outlives its master by design). Those orphans would go to PID 1,
which on this machine reaps them only seconds later. As a child subreaper
(prctl PR_SET_CHILD_SUBREAPER) this process receives them instead, waits for
all of them, and only then exits with the command's status. SIGTERM, SIGINT
and SIGHUP are passed on to the command.

When PARENT_PID (the test process) dies, even by SIGKILL, this process gets
SIGTERM (prctl PR_SET_PDEATHSIG) and so stops the command: a killed test
run leaves no server behind.
"""

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36


def main(argv):
    if len(argv) < 2:
        sys.exit("usage: subreaper.py PARENT_PID COMMAND [ARG]...")
    parent, argv = int(argv[0]), argv[1:]
    # Signals wait until the handlers below are in place.
    forwarded = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}
    signal.pthread_sigmask(signal.SIG_BLOCK, forwarded)
    libc = ctypes.CDLL(None, use_errno=True)
    for option, value in ((PR_SET_CHILD_SUBREAPER, 1),
                          (PR_SET_PDEATHSIG, signal.SIGTERM)):
        if libc.prctl(option, int(value), 0, 0, 0) != 0:
            sys.exit("prctl(%d): %s" % (option,
                                        os.strerror(ctypes.get_errno())))
    if os.getppid() != parent:          # died before the prctl took effect
        sys.exit("subreaper.py: parent %d is gone" % parent)
    pid = os.fork()
    if pid == 0:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, forwarded)
        try:
            os.execvp(argv[0], argv)
        except OSError as e:
            print("subreaper.py: %s: %s" % (argv[0], e), file=sys.stderr)
        os._exit(127)

    reaped = False

    def forward(sig, _frame):
        if not reaped:                  # else the pid may be someone else's
            os.kill(pid, sig)

    for sig in forwarded:
        signal.signal(sig, forward)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, forwarded)

    status = 0
    while True:
        try:
            wpid, wstatus = os.wait()
        except ChildProcessError:       # no children left, orphans included
            break
        if wpid == pid:
            reaped = True
            status = os.waitstatus_to_exitcode(wstatus)
    sys.exit(128 - status if status < 0 else status)


if __name__ == "__main__":
    main(sys.argv[1:])
