using FedMM.Api.Errors;
using Orleans.Serialization.Invocation;

namespace FedMM.Api.Tests.Errors;

/// <summary>Which exceptions the API answers 503 for (the silo or storage unreachable) rather than 500.</summary>
[Trait("Category", "Unit")]
public sealed class UnavailableDependencyTests
{
    [Fact]
    public async Task A_grain_calls_response_timeout_is_the_silo_being_unavailable()
    {
        // What Orleans does when a call's response does not arrive (a call in flight to a killed silo):
        // the call's completion source is completed with a TimeoutException that is never thrown by Orleans itself.
        var call = new ResponseCompletionSource<int>();
        call.Complete(Response.FromException(new TimeoutException("Response did not arrive on time in 00:00:30 for message: Request")));
        var thrown = await Assert.ThrowsAsync<TimeoutException>(async () => await call.AsValueTask());
        Assert.Equal(UnavailableDependency.Silo, UnavailableDependency.Of(thrown));
    }

    [Fact]
    public void A_grain_calls_response_timeout_awaited_without_orleans_on_the_stack_is_the_silo_being_unavailable()
    {
        // Awaited so that no Orleans frame is left on its stack (seen when an upload in flight to a killed
        // silo timed out): Orleans' own message still says what it is.
        TimeoutException thrown;
        try { throw new TimeoutException("Response did not arrive on time in '00:00:05' for message: 'Request'."); }
        catch (TimeoutException e) { thrown = e; }
        Assert.Equal(UnavailableDependency.Silo, UnavailableDependency.Of(thrown));
        Assert.True(UnavailableDependency.IsUnansweredCall(thrown));
    }

    [Fact]
    public async Task A_timeout_of_the_apis_own_code_stays_a_fault()
    {
        var thrown = await Assert.ThrowsAsync<TimeoutException>(() => Task.Delay(TimeSpan.FromSeconds(10)).WaitAsync(TimeSpan.FromMilliseconds(1)));
        Assert.Null(UnavailableDependency.Of(thrown));
    }
}
