def on_state_changed(sender, **kwargs):
    pass


def on_plan_changed(sender, **kwargs):
    pass
