using Azure;

namespace FedMM.Api.Errors;

/// <summary>
/// Which dependency an exception says is unreachable: the silos (Orleans gateway gone, message
/// rejected, call timed out) or storage (a network failure or a 5xx from the blob service, also
/// when it reached the API through a grain). Null for any other fault, which stays a 500.
/// </summary>
public static class UnavailableDependency
{
    /// <summary>Name used in problem details for the silos.</summary>
    public const string Silo = "silo";

    /// <summary>Name used in problem details for blob storage.</summary>
    public const string Storage = "storage";

    /// <summary>The unavailable dependency behind <paramref name="exception"/>, or null.</summary>
    public static string? Of(Exception exception)
    {
        foreach (var e in Chain(exception))
        {
            switch (e)
            {
                case RequestFailedException { Status: 0 or >= 500 }:
                    return Storage;
                case Orleans.Runtime.SiloUnavailableException or Orleans.Runtime.OrleansMessageRejectionException
                    or Orleans.Runtime.GatewayTooBusyException or Orleans.Runtime.Messaging.ConnectionFailedException
                    or Orleans.Networking.Shared.SocketConnectionException:
                    return Silo;
                case TimeoutException when FromOrleans(e):
                    return Silo;
            }
        }
        return null;
    }

    /// <summary>
    /// Whether <paramref name="exception"/> is a grain call that got no answer within its response timeout: the silo may
    /// still have carried it out, unlike a call that could not be delivered.
    /// </summary>
    public static bool IsUnansweredCall(Exception exception) => Chain(exception).Any(e => e is TimeoutException && FromOrleans(e));

    // A grain call's response timeout (e.g. a call in flight to a silo that was killed): Orleans
    // completes the call with it without throwing it, so it is thrown by the awaiting runtime code
    // (its source is not Orleans); its stack still runs through Orleans' completion source.
    // How Orleans.Core words a grain call's response timeout.
    private const string OrleansResponseTimeout = "Response did not arrive on time";

    // Awaited through some paths no Orleans frame is left on its stack, so Orleans' message (Orleans.Core's
    // response timeout, "Response did not arrive on time in …") identifies it as well.
    private static bool FromOrleans(Exception e)
    {
        static bool Orleans(string? name) => name?.StartsWith("Orleans", StringComparison.Ordinal) == true;
        if (Orleans(e.Source) || e.Message.StartsWith(OrleansResponseTimeout, StringComparison.Ordinal)) return true;
        return new System.Diagnostics.StackTrace(e).GetFrames().Any(f => Orleans(f.GetMethod()?.DeclaringType?.Namespace));
    }

    // Storage faults arrive wrapped (the SDK's AggregateException after its retries, a grain's exception).
    private static IEnumerable<Exception> Chain(Exception exception)
    {
        var pending = new Stack<Exception>([exception]);
        for (int seen = 0; pending.Count > 0 && seen < 32; seen++)
        {
            var e = pending.Pop();
            yield return e;
            if (e is AggregateException aggregate)
                foreach (var inner in aggregate.InnerExceptions) pending.Push(inner);
            else if (e.InnerException is { } inner) pending.Push(inner);
        }
    }
}
