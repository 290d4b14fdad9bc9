import Foundation

/// How this process was started: alone, or as one rank of several by `mpirun`, `srun` or another MPI launcher,
/// read from the variables the launchers set.
public struct LaunchEnvironment: Equatable {
  /// The variables that carry the number of ranks: Open MPI's `mpirun`, PMI launchers (MPICH, Intel MPI, Slurm's
  /// PMI-2) and Slurm job steps.
  public static let sizeVariables = ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS"]

  /// The number of ranks the launcher started, and the variable that says so; nil when no launcher is in sight.
  public let launcherSize: (variable: String, size: Int)?

  public init(_ environment: [String: String] = ProcessInfo.processInfo.environment) {
    launcherSize =
      LaunchEnvironment.sizeVariables.lazy.compactMap { name in
        environment[name].flatMap(Int.init).map { (variable: name, size: $0) }
      }.first
  }

  /// Whether a launcher started this process.
  public var isLaunched: Bool { launcherSize != nil }

  public static func == (lhs: LaunchEnvironment, rhs: LaunchEnvironment) -> Bool {
    lhs.launcherSize?.variable == rhs.launcherSize?.variable && lhs.launcherSize?.size == rhs.launcherSize?.size
  }
}

/// The communicator this process trains with.
public enum Communicators {
  /// Whether this build links MPI (`swift build --traits MPI`).
  public static var mpiIsBuiltIn: Bool {
    #if MPI
      return true
    #else
      return false
    #endif
  }

  /// MPI's world when a launcher started this process and the build links MPI; one process when nothing launched
  /// it. Throws when a launcher started several ranks but the build has no MPI: each would train alone, all into the
  /// same directory.
  public static func forThisProcess(_ launch: LaunchEnvironment = LaunchEnvironment()) throws -> any Communicator {
    guard let (variable, size) = launch.launcherSize else { return SingleProcess() }
    #if MPI
      _ = (variable, size)
      return try MPICommunicator()
    #else
      guard size <= 1 else {
        throw DataParallelError(
          "this glip was built without MPI but was started as one of \(size) ranks (\(variable)=\(size)); "
            + "build it with `swift build -c release --traits MPI` for data-parallel training, or start one process")
      }
      return SingleProcess()
    #endif
  }
}
