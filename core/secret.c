#include <sys/prctl.h>
#include <sys/resource.h>

#include "secret.h"

int
secret_no_dumps(struct err *e)
{
	struct rlimit none = { 0, 0 };

	if (setrlimit(RLIMIT_CORE, &none) == -1)
		return err_sys(e, ERR_INTERNAL, "cannot disable core dumps");
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1)
		return err_sys(e, ERR_INTERNAL, "cannot make the process "
		    "non-dumpable");
	return 0;
}
