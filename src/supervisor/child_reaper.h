// preload-fork and the zygote: the supervisor as the reaper of its workers'
// orphans. A worker forked by a template or the zygote is a grandchild that
// becomes our child once its parent (the fork's middle process) exits; the
// orphans of any worker's own children become ours too, and are reaped here
// unless a WorkerProcess knows them (tracked below).
#pragma once

#include <chrono>
#include <string>

namespace wsgi_fpm::supervisor {

// Makes the supervisor the reaper of its workers' orphans, so that a worker
// forked by a template (fork_template.h) becomes its child. Idempotent.
// False with `error`.
bool become_child_subreaper(std::string& error);
// Once it is (for a template or the zygote), every orphan of any worker's
// children is ours to reap, forked worker or not.
bool is_child_subreaper();
// A child a WorkerProcess reaps itself (through libuv or its pidfd), from
// when its pid is known until it exited: reap_unknown_children() leaves it.
void track_child(long pid);
void untrack_child(long pid);
// Reaps exited children that no WorkerProcess knows (orphans of workers'
// own children, adopted as the subreaper; a spare the zygote or a template
// kept forked ahead, gone unused): a zombie seen twice, a second apart.
// Call once a second while subreaper; true while an unknown zombie is left
// to be seen again.
bool reap_unknown_children();
// At the supervisor's exit, once every WorkerProcess is gone: waits up to
// `patience` for the children left (spares leave when their zygote or
// template has gone, orphans when they will), then kills them, so that none
// outlives a clean stop.
void reap_remaining_children(std::chrono::milliseconds patience);

}  // namespace wsgi_fpm::supervisor
