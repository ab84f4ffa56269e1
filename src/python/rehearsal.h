// A spare worker's rehearsal (worker/fork_template.cc, Spare): one request
// to a built-in hello-world application, served on a thread of its own and
// written nowhere, before the spare is given a pool.
//
// Why: a process forked from the zygote shares its memory copy-on-write, and
// the first request of its life writes a few hundred of those pages (the
// reference counts of the types, builtins and strings a request uses, the
// allocator's arenas, the eval loop's caches): a page fault and a copied page
// each, 3-4 ms of a cold tenant's first byte on this machine (docs/design.md).
// Rehearsed while the spare waits, they are copied before the tenant's
// request comes. They are the pages its worker would have copied anyway, so
// this costs a worker no more memory than it had. The application is ours and
// the spare is no tenant's yet: nothing of a tenant runs or stays.
#pragma once

#include <Python.h>

namespace wsgi_fpm::python {

// Call without the GIL, with no other thread of ours running Python. Leaves
// no module behind; failures are not errors (the spare serves regardless).
void rehearse_request();

}  // namespace wsgi_fpm::python
