# (filled in by the lua work)
