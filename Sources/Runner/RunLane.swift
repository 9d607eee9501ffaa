// SPDX-License-Identifier: Apache-2.0
internal import NIOCore
internal import NIOPosix

/// One event loop that scenario runs live on: the run's steps, its connections and every wait
/// on them. Give a task the lane's ``taskExecutor`` (`addTask(executorPreference:)`) and pass
/// the lane to `ScenarioRunner.run` to keep a whole worker on one thread.
public struct RunLane: Sendable {
    let executor: EventLoopTaskExecutor

    init(_ loop: any EventLoop) {
        executor = EventLoopTaskExecutor(loop)
    }

    /// The task executor that runs on this lane's event loop.
    public var taskExecutor: any TaskExecutor { executor }

    /// Whether the calling thread is this lane's event loop.
    public var isCurrent: Bool { executor.loop.inEventLoop }

    /// One lane per event loop of the engine's shared group (one per core).
    public static func all() -> [RunLane] {
        MultiThreadedEventLoopGroup.singleton.makeIterator().map { RunLane($0) }
    }

    /// A lane on the next event loop of the engine's shared group.
    public static func next() -> RunLane {
        RunLane(MultiThreadedEventLoopGroup.singleton.next())
    }
}
