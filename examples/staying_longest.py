"""A custom dispatch policy in ten lines, used by staying_longest.toml (see the README)."""
from fleet.policies import DispatchPolicy


class StayingLongest(DispatchPolicy):
    """Of k cars drawn at random, the one whose known departure is the latest."""

    name = "staying_longest"
    PARAMS = {"k": 4}

    def select(self, job):
        cars = [self.view.uniform(self.rng) for _ in range(self.params["k"])]
        return max(cars, key=self.view.departure_s)
