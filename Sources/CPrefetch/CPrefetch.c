// The module is header-only (static inline hints); this file gives the target a translation unit.
#include "CPrefetch.h"
