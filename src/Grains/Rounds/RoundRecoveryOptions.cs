namespace FedMM.Grains.Rounds;

/// <summary>How unfinished rounds recover without anyone calling them (config section "Rounds").</summary>
public sealed class RoundRecoveryOptions
{
    /// <summary>Config section the options bind to.</summary>
    public const string Section = "Rounds";

    /// <summary>
    /// How often an unfinished round's durable reminder wakes it after its deadline; after a silo
    /// dies, its rounds resume on a survivor at most this long after the survivor owns their reminders.
    /// </summary>
    public TimeSpan RecoveryPeriod { get; set; } = TimeSpan.FromMinutes(1);
}
