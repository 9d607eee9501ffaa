// SPDX-License-Identifier: Apache-2.0
#ifndef CUNBOUND_SHIM_H
#define CUNBOUND_SHIM_H

// libunbound (Debian's libunbound-dev): validating DNS look-ups. Linked by name rather than
// through pkg-config, whose libunbound.pc requires libevent's .pc file although the library
// does not need libevent's headers.
#include <unbound.h>

#endif
