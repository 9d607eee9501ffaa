// SPDX-License-Identifier: Apache-2.0
internal import NIOCore

/// A task executor (SE-0417) that runs a task's nonisolated work on one event loop.
///
/// A scenario run prefers the event loop its connections live on: an `await` on the engine then
/// resumes on the thread that completed it, instead of waking a thread of the global pool and
/// then the event loop again.
final class EventLoopTaskExecutor: TaskExecutor, @unchecked Sendable {
    let loop: any EventLoop

    init(_ loop: any EventLoop) {
        self.loop = loop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute {
            job.runSynchronously(on: self.asUnownedTaskExecutor())
        }
    }
}
