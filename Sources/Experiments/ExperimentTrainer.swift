import Config
import DataParallel
import Datasets
import Detection
import Training

extension Trainer {
  /// The trainer an experiment describes: its detector, `data` sizing and flips, `train` options and parameter
  /// groups, and `data.val` for periodic evaluation; data-parallel over `communicator`'s ranks.
  public convenience init(
    experiment: CheckedExperiment, records: [GroundingRecord], communicator: any Communicator = SingleProcess()
  ) throws {
    try self.init(
      detector: experiment.detector,
      batches: BatchBuilder(
        records: records, encoder: experiment.detector.textEncoder,
        pixelFormat: experiment.detector.pixelFormat, imageSize: experiment.data.imageSize,
        flip: experiment.data.flip, samplePrompts: experiment.data.samplePrompts, scales: experiment.data.multiScale,
        sizing: experiment.data.sizing, trainingSides: experiment.data.trainingSides),
      options: experiment.training, groups: experiment.tuning.parameterGroups, validation: experiment.data.val,
      communicator: communicator)
  }
}
