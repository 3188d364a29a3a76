#include "overrides.h"

void
overrides_apply(const struct run_overrides *ovr, struct config *cfg)
{
	for (size_t i = 0; i < cfg->naccounts; i++) {
		struct account *a = &cfg->accounts[i];

		if (ovr->keep != OVERRIDE_NONE) {
			a->keep = ovr->keep == 1;
			if (a->keep)
				a->keep_days = 0;
		}
		if (ovr->fetch_limit != OVERRIDE_NONE)
			a->fetch_limit = ovr->fetch_limit;
	}
}
