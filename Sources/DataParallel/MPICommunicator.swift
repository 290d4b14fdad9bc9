#if MPI
  import CMPI
  import Foundation

  /// `MPI_COMM_WORLD` of Open MPI. MPI is called from the main thread only; the compute threads never call it.
  public final class MPICommunicator: Communicator {
    public let rank: Int
    public let size: Int

    /// Joins the job the launcher started (`MPI_Init_thread`, funneled).
    public init() throws {
      var provided: Int32 = 0
      try MPICommunicator.check(MPI_Init_thread(nil, nil, Int32(MPI_THREAD_FUNNELED), &provided), "MPI_Init_thread")
      var rank: Int32 = 0
      var size: Int32 = 0
      try MPICommunicator.check(MPI_Comm_rank(glip_mpi_comm_world(), &rank), "MPI_Comm_rank")
      try MPICommunicator.check(MPI_Comm_size(glip_mpi_comm_world(), &size), "MPI_Comm_size")
      self.rank = Int(rank)
      self.size = Int(size)
    }

    public func sum(_ values: UnsafeMutableBufferPointer<Float>) {
      guard let base = values.baseAddress else { return }
      for start in stride(from: 0, to: values.count, by: MPICommunicator.largestCount) {
        let count = min(MPICommunicator.largestCount, values.count - start)
        _ = MPI_Allreduce(
          UnsafeRawPointer(glip_mpi_in_place()), base + start, Int32(count), glip_mpi_float(), glip_mpi_sum(),
          glip_mpi_comm_world())
      }
    }

    public func broadcast(_ bytes: UnsafeMutableRawBufferPointer, from root: Int) {
      guard let base = bytes.baseAddress else { return }
      for start in stride(from: 0, to: bytes.count, by: MPICommunicator.largestCount) {
        let count = min(MPICommunicator.largestCount, bytes.count - start)
        _ = MPI_Bcast(base + start, Int32(count), glip_mpi_byte(), Int32(root), glip_mpi_comm_world())
      }
    }

    public func abort(code: Int32) -> Never {
      _ = MPI_Abort(glip_mpi_comm_world(), code)
      exit(code)
    }

    public func finish() { _ = MPI_Finalize() }

    /// MPI counts are `Int32`; longer buffers go in pieces.
    static let largestCount = 1 << 30

    static func check(_ code: Int32, _ call: String) throws {
      guard code != glip_mpi_success() else { return }
      var text = [CChar](repeating: 0, count: Int(glip_mpi_max_error_string()) + 1)
      var length: Int32 = 0
      _ = MPI_Error_string(code, &text, &length)
      throw DataParallelError("\(call) failed: \(String(cString: text))")
    }
  }
#endif
