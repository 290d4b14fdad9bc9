import ArgumentParser
import Config
import DataParallel
import Detection
import Experiments
import Foundation
import Training

struct TrainCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "train",
    abstract: "Train a grounding model from a config.",
    discussion: """
      Writes to --out: config.yaml (resolved), metrics.jsonl (one line per step; one per evaluation with \
      train.eval_every), and checkpoints/: step_<n>.safetensors every train.checkpoint_every steps (the newest \
      train.keep_checkpoints kept), best.safetensors (the best evaluation, with train.eval_every) and \
      final.safetensors. Progress is a bar on a terminal and plain lines otherwise.

      Under `mpirun -np N` (a build with `--traits MPI`) the N processes train one model data-parallel: \
      train.batch_size is the global batch, and rank 0 writes --out. See docs/DISTRIBUTED.md.
      """)

  @Option(help: "A YAML config with model, data and train sections.")
  var config: String

  @Option(name: .customLong("set"), help: "Override a key: --set train.iterations=200 (repeatable).")
  var overrides: [String] = []

  @Option(help: "Run directory.")
  var out: String

  @Flag(
    help: "Continue from the newest step_<n>.safetensors in --out/checkpoints (written with train.checkpoint_every).")
  var resume = false

  @Option(help: "Continue from this step_<n>.safetensors checkpoint instead of the newest one.")
  var resumeFrom: String?

  func run() throws {
    let communicator = try reportingErrors { try Communicators.forThisProcess() }
    try endingTheJobOnError(communicator) { try train(communicator) }
  }

  private func train(_ communicator: any Communicator) throws {
    // Rank 0 speaks for the job; the other ranks only report errors of their own.
    let say: (String) -> Void = communicator.isPrimary ? { print($0) } : { _ in }
    let loaded = try LoadedConfig(path: config, overrides: overrides)
    if communicator.isPrimary { for note in loaded.notes { printError("note: \(note)") } }
    let experiment = try TrainedModel.load(loaded, checkpoint: nil)  // with model.checkpoint's weights
    let (records, skipped) = try DatasetFormats.loadRecords(experiment.data.trainSources)
    let files = experiment.data.trainSources.map(\.annotations).joined(separator: ", ")
    if skipped > 0 && communicator.isPrimary {
      printError("skipped \(skipped) bad records of \(files) (data.on_bad_record: skip)")
    }
    guard !records.isEmpty else { throw ValidationError("\(files): no usable training records") }
    let trainer = try Trainer(experiment: experiment, records: records, communicator: communicator)
    say("tuning mode: \(experiment.tuning.mode.rawValue)")
    say(Inspection(experiment.detector).text.components(separatedBy: "\n\n").last ?? "")
    for source in experiment.data.trainSources where source.shots > 0 {
      let seed = source.shotSeed ?? 0
      say("\(source.annotations): few-shot split, \(source.shots) shots per category (shot_seed \(seed))")
    }
    say("training on \(records.count) records for \(experiment.training.iterations) steps")
    say(TrainCommand.banner(trainer))
    let start = try resumePoint(trainer, say: say)
    // mpirun hands every rank a pseudo-terminal whether or not its own output is one, so ranks log plain lines.
    let display = ProgressDisplay(
      logEvery: experiment.training.logEvery, isTerminal: communicator.size == 1 && isatty(STDOUT_FILENO) != 0)
    defer { display.finish() }
    try trainer.train(directory: out, config: YAMLEmitter.emit(loaded.root), start: start) {
      display.handle($0)
      fflush(stdout)
    }
    display.finish()
    var written = ["\(out)/metrics.jsonl", "\(out)/config.yaml", "\(out)/checkpoints/final.safetensors"]
    if let best = trainer.best {
      written.append(
        "\(out)/checkpoints/best.safetensors (\(best.metric) \(String(format: "%.4f", best.value)) after step "
          + "\(best.step))")
    }
    if experiment.training.prefetchBatches > 0 {
      say(
        String(
          format: "data: %.2f s per step decoding and resizing in the background; the steps waited %.2f s in all",
          trainer.dataSeconds.build / Double(max(experiment.training.iterations - start, 1)),
          trainer.dataSeconds.wait))
    }
    if communicator.size > 1 {
      say(
        String(
          format: "gradient averaging: %.1f ms per step (%@ per rank per step)",
          trainer.gradients.secondsPerStep * 1000, TrainCommand.megabytes(trainer.gradients.lastBytes)))
    }
    say("wrote " + written.joined(separator: ", "))
  }

  /// Ranks and batches; with several ranks, what each step's gradient averaging moves.
  static func banner(_ trainer: Trainer) -> String {
    let ranks = trainer.communicator.size
    var text =
      "ranks: \(ranks), batch per rank: \(trainer.batchPerRank), global batch: \(trainer.options.batchSize)"
    if ranks > 1 {
      let plan = trainer.gradients.plan(for: trainer.detector.trainableParameters())
      text += "; gradients averaged per step: \(megabytes(plan.bytes)) in \(plan.buckets) bucket(s)"
    }
    return text
  }

  static func megabytes(_ bytes: Int) -> String { String(format: "%.2f MB", Double(bytes) / 1e6) }

  /// Runs `body`; after an error, prints it (once, for an error every rank raised) and ends the job: by exiting when
  /// every rank stops alike, otherwise by aborting every rank, since the others would wait on this one for ever.
  private func endingTheJobOnError(_ communicator: any Communicator, _ body: () throws -> Void) throws {
    do {
      try body()
      communicator.finish()
    } catch {
      let onEveryRank = (error as? TrainingError)?.onEveryRank == true || error is DataParallelError
      guard communicator.size > 1 else { return try reportingErrors { throw error } }
      if communicator.isPrimary || !onEveryRank {
        _ = try? reportingErrors { throw error }
        printError("(rank \(communicator.rank) of \(communicator.size))")
      }
      if onEveryRank {
        communicator.finish()
        throw ExitCode.failure
      }
      communicator.abort(code: 1)
    }
  }

  private func resumePoint(_ trainer: Trainer, say: (String) -> Void) throws -> Int {
    guard resume || resumeFrom != nil else { return 0 }
    let path: String
    if let resumeFrom {
      path = resumeFrom
    } else {
      guard let newest = trainer.stepCheckpoints(in: URL(fileURLWithPath: out)).last else {
        throw ValidationError(
          "--resume: \(out)/checkpoints has no step_<n>.safetensors (set train.checkpoint_every to write them)")
      }
      path = newest.path
    }
    let start = try trainer.resume(from: path)
    say("resuming from \(path) after step \(start)")
    return start
  }
}
