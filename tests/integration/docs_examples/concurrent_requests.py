import asyncio
from kellyapi import KellyAPI

async def main():
    api = KellyAPI(api_key="your_api_key_here")
    
    # Run multiple requests concurrently
    results = await asyncio.gather(
        api.llm(prompt="What is AI?"),
        api.llm(prompt="What is ML?"),
        api.llm(prompt="What is DL?")
    )
    
    for i, result in enumerate(results, 1):
        print(f"Response {i}: {result}")

asyncio.run(main())
