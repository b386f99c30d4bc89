import Logging
import ServiceLifecycle

/// Runs a ``Pipeline`` inside the daemon's `ServiceGroup`.
///
/// Graceful shutdown (SIGTERM/SIGINT) and cancellation both ask the pipeline thread to stop;
/// `run()` then returns once the thread has flushed, committed and left the group, so the group —
/// and the process — ends only after the last commit.
public struct PipelineService: Service {
    public let pipeline: Pipeline

    public init(pipeline: Pipeline) {
        self.pipeline = pipeline
    }

    public func run() async throws {
        let pipeline = self.pipeline
        try await withTaskCancellationHandler {
            try await withGracefulShutdownHandler {
                try await pipeline.run()
            } onGracefulShutdown: {
                pipeline.requestStop()
            }
        } onCancel: {
            pipeline.requestStop()
        }
    }
}
