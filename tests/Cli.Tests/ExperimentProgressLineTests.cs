using FedMM.Cli.Output;
using FedMM.Learning.Experiments;

namespace FedMM.Cli.Tests;

[Trait("Category", "Unit")]
public class ExperimentProgressLineTests
{
    [Fact]
    public void The_bar_counts_each_round_once_and_the_time_left_follows_the_rate_so_far()
    {
        var now = TimeSpan.Zero;
        // 2 partitions × 1 strategy × 2 seeds × 5 rounds.
        var line = new ExperimentProgressLine(20, () => now);

        now = TimeSpan.FromMinutes(2);
        string first = line.Format(1, " p1", new ExperimentProgress(Strategy.FedAvg, 1, 1, 5, "test: image acc 50.0%"));
        Assert.Equal("00:02:00 [#...................] 5% of 20 rounds, ~00:38:00 left | p1 fedavg seed 1 round 1/5: test: image acc 50.0%", first);

        // A failure reported in the same round does not count it again.
        line.Format(1, " p1", new ExperimentProgress(Strategy.FedAvg, 1, 1, 5, "client_0 failed: boom"));
        Assert.Equal(1, line.Done);

        now = TimeSpan.FromMinutes(20);
        for (int round = 2; round <= 5; round++) line.Format(1, " p1", new ExperimentProgress(Strategy.FedAvg, 1, round, 5, ""));
        for (int round = 1; round <= 5; round++) line.Format(1, " p1", new ExperimentProgress(Strategy.FedAvg, 2, round, 5, ""));
        // The same round of another partition is another round.
        string half = line.Format(2, " p2", new ExperimentProgress(Strategy.FedAvg, 1, 1, 5, "x"));
        Assert.Equal(11, line.Done);
        Assert.StartsWith("00:20:00 [###########.........] 55% of 20 rounds, ~00:16:21 left | p2 fedavg seed 1 round 1/5: x", half);
    }
}
