"""Write-back: push each item's initiative (and key result) labels to GitHub and Jira.

`outbox` records desired values in the transaction of every link change, `worker` writes the
differences, `conflicts` applies the source's policy to people's upstream edits, `store`
serves the admin API (settings, preview, write log).
"""
