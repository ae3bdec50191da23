namespace FedMM.Grains.Interfaces.Models;

/// <summary>How a round answered a reported update.</summary>
[GenerateSerializer, Alias("fedmm.submission-outcome")]
public enum SubmissionOutcome
{
    /// <summary>Recorded (HTTP 201).</summary>
    Accepted = 0,

    /// <summary>The same content was already recorded; nothing changed (HTTP 200).</summary>
    Identical = 1,

    /// <summary>A different update from this client is already recorded (HTTP 409).</summary>
    Conflict = 2,

    /// <summary>The round is not Collecting (HTTP 409).</summary>
    NotCollecting = 3,

    /// <summary>The client is not a participant of the round (HTTP 403).</summary>
    NotParticipant = 4,
}

/// <summary>The answer to <see cref="IRoundGrain.SubmitAsync"/>: outcome plus a sentence saying why.</summary>
[GenerateSerializer, Immutable, Alias("fedmm.submission-result")]
public sealed record SubmissionResult(
    [property: Id(0)] SubmissionOutcome Outcome,
    [property: Id(1)] string Detail);
