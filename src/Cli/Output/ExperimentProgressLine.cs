using System.Globalization;
using FedMM.Learning.Experiments;

namespace FedMM.Cli.Output;

/// <summary>
/// The progress line of `fedmm experiment run`: elapsed time, a bar of the rounds done out of every
/// round the run has (partitions × strategies × seeds × rounds), and the time left at the rate so
/// far, before what the round measured. A round counts once, however often it is reported.
/// </summary>
/// <param name="totalRounds">Rounds of the whole run.</param>
/// <param name="elapsed">Time since the run started.</param>
public sealed class ExperimentProgressLine(int totalRounds, Func<TimeSpan> elapsed)
{
    /// <summary>Characters of the bar.</summary>
    public const int BarWidth = 20;

    private readonly HashSet<(int Partition, Strategy Strategy, int Seed, int Round)> done = [];

    /// <summary>Rounds done so far.</summary>
    public int Done => done.Count;

    /// <summary>The line for <paramref name="progress"/> of partition <paramref name="partition"/> (<paramref name="where"/> names it, or is empty).</summary>
    public string Format(int partition, string where, ExperimentProgress progress)
    {
        ArgumentNullException.ThrowIfNull(progress);
        done.Add((partition, progress.Strategy, progress.Seed, progress.Round));
        var now = elapsed();
        int count = Math.Min(done.Count, totalRounds);
        int filled = totalRounds == 0 ? BarWidth : count * BarWidth / totalRounds;
        string bar = new string('#', filled) + new string('.', BarWidth - filled);
        string left = count == 0 ? "?" : Clock(TimeSpan.FromTicks(now.Ticks / count * (totalRounds - count)));
        string percent = (totalRounds == 0 ? 100 : 100 * count / totalRounds).ToString(CultureInfo.InvariantCulture);
        return $"{Clock(now)} [{bar}] {percent}% of {totalRounds} rounds, ~{left} left |{where} {progress.Strategy.ToName()} seed {progress.Seed} round {progress.Round}/{progress.Rounds}: {progress.Message}";
    }

    private static string Clock(TimeSpan time) =>
        $"{(int)time.TotalHours:00}:{time.Minutes:00}:{time.Seconds:00}";
}
