"""lanes.salvage: jobs let go of are kept per lane until a generation check decides their fate."""
from botrunner.lanes.chat_order import Job
from botrunner.lanes.salvage import Salvage


def job(lane: int, entry_id: str) -> Job:
    return Job(lane, (lane, 1), entry_id, {})


def test_a_lanes_jobs_come_back_once_each_in_stream_order():
    salvage = Salvage()
    salvage.keep_all([job(3, "20-0"), job(3, "5-1"), job(4, "1-0")])
    salvage.keep(job(3, "5-0"))
    salvage.keep(job(3, "20-0"))          # given up again after a first drop: one copy
    assert salvage.lanes() == [3, 4]
    assert [j.entry_id for j in salvage.take(3)] == ["5-0", "5-1", "20-0"]
    assert salvage.take(3) == []
    assert salvage.lanes() == [4]


def test_a_check_forgets_only_what_was_kept_before_it_was_sent():
    salvage = Salvage()
    salvage.keep(job(1, "1-0"))
    mark = salvage.mark()
    salvage.keep(job(1, "2-0"))           # let go while the check was in flight: maybe after the loss
    salvage.forget_until(mark)
    assert [j.entry_id for j in salvage.take(1)] == ["2-0"]


def test_a_lane_released_while_still_ours_is_forgotten():
    salvage = Salvage()
    salvage.keep_all([job(1, "1-0"), job(2, "1-0")])
    salvage.forget_lane(1)
    assert salvage.lanes() == [2]


def test_a_check_that_names_lost_lanes_keeps_only_theirs():
    """A Redis Cluster master lost its data: its lanes' let-go jobs are the only copies (kept, handled
    again); the other lanes' entries are still pending in Redis (forgotten, their owners claim them)."""
    salvage = Salvage()
    salvage.keep_all([job(1, "1-0"), job(2, "1-0"), job(5, "3-0")])
    salvage.forget_until(salvage.mark(), lost=frozenset({2, 5}))
    assert salvage.lanes() == [2, 5]
    assert [j.entry_id for j in salvage.take(5)] == ["3-0"]
